package dev.branchboot.agent.http;

import dev.branchboot.agent.text.PeerText;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

/**
 * A minimal blocking HTTP/1.1 client for range requests: persistent (keep-alive) connections in a
 * pool per server, one request at a time per connection, several connections for requests in
 * flight at once, TCP_NODELAY.
 *
 * <p><b>Timeout.</b> One request, from connecting (or taking a kept-alive connection) to the last
 * byte of its body, takes at most the timeout, by the clock: a {@link RequestWatchdog} closes the
 * connection of a request that runs past it. A read timeout on the socket alone would not do:
 * a server that sends one byte a second resets it with every byte and holds the request forever.
 *
 * <p>Why not {@code java.net.http.HttpClient}: measured on loopback against nginx, it took 0.5 to
 * 1.3 ms per 20 KB range request (its selector thread and executor hand-offs) and under nbdcopy's
 * load a mean of 26 ms, capping a sequential read at about 70 MiB/s; a blocking socket takes about
 * 0.1 ms. The agent needs only GET and HEAD with a few headers and a Content-Length body, so this
 * small client does the job without the cost. Anything it does not understand (chunked bodies,
 * missing lengths) is an error for that server, never guessed at.
 */
final class Http11Client implements AutoCloseable {
    private static final int MAX_HEADER_BYTES = 64 * 1024;
    /** Interim (1xx) responses skipped before the final one; a server that sends more is faulty. */
    private static final int MAX_INTERIM = 8;
    private static final int MAX_DRAINED_BODY = 1 << 20;
    private static final int MAX_IDLE_PER_SERVER = 64;
    private static final int SCRATCH_BYTES = 64 * 1024;
    /**
     * The response headers anyone here reads (lower case); others are skipped unparsed. Add a name
     * here before reading it from a {@link Response}.
     */
    private static final String[] HEADERS_USED = {"content-length", "content-range", "etag", "connection",
        "content-location", "transfer-encoding"};

    /**
     * A response: status and headers (names in lower case; the last value of a repeated header wins).
     * A {@code 206} body has been read into the caller's buffer.
     */
    record Response(int status, Map<String, String> headers) {
        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    private final Duration timeout;
    private final long timeoutNanos;
    private final int connectTimeoutMillis;
    private final Map<String, ConcurrentLinkedDeque<Connection>> idle = new ConcurrentHashMap<>();
    private final RequestWatchdog watchdog;
    private volatile boolean closed;

    /**
     * A client whose requests take at most {@code timeout} each, of which connecting takes at most
     * {@code connectTimeout}.
     */
    Http11Client(Duration timeout, Duration connectTimeout) {
        this.timeout = timeout;
        this.timeoutNanos = timeout.toNanos();
        this.connectTimeoutMillis = (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis());
        this.watchdog = new RequestWatchdog(timeout);
    }

    /** One connection; {@link RequestWatchdog} may close it from its own thread when its request is late. */
    static final class Connection {
        final Socket socket;
        /** The TCP socket (under TLS, the one the TLS socket is layered over): closing it ends any blocked call. */
        private final Socket raw;
        final ResponseInput in;
        final OutputStream out;
        /** Staging for bodies bound for direct buffers, which a stream cannot read into. */
        byte[] scratch;
        /** When the request in progress must be over ({@link System#nanoTime()}); read by the watchdog. */
        volatile long deadlineNanos;

        Connection(Socket socket, Socket raw) throws IOException {
            this.socket = socket;
            this.raw = raw;
            this.in = new ResponseInput(socket.getInputStream(), 64 * 1024);
            this.out = socket.getOutputStream();
        }

        /** Called by the watchdog: the blocked read or write fails at once. */
        void expire() {
            try {
                raw.close();
            } catch (IOException ignored) {
                // nothing to do: the connection is being dropped
            }
        }

        void close() {
            try {
                socket.close();
            } catch (IOException ignored) {
                // nothing to do: the connection is being dropped
            }
        }
    }

    /**
     * Sends {@code method} (GET or HEAD) for {@code url} with {@code headers}. A {@code 206} body
     * must be exactly {@code body.remaining()} bytes long (checked against Content-Length) and is
     * read in full into {@code body} (which may be {@code null} when none is expected), straight
     * from the socket without an intermediate array per response; other bodies are drained and
     * dropped. After a failure {@code body}'s content and position are unspecified.
     *
     * @throws IOException on any network failure or malformed response
     */
    Response send(String method, URI url, Map<String, String> headers, ByteBuffer body) throws IOException {
        return send(method, url, headers, body, System.nanoTime() + timeoutNanos);
    }

    /**
     * As {@link #send(String, URI, Map, ByteBuffer)}, ending by {@code notAfterNanos} (a
     * {@link System#nanoTime()} value) when that comes before the timeout.
     *
     * @throws RequestTimeoutException when the request has not ended by then
     */
    Response send(String method, URI url, Map<String, String> headers, ByteBuffer body, long notAfterNanos)
            throws IOException {
        long start = System.nanoTime();
        long deadline = notAfterNanos - (start + timeoutNanos) < 0 ? notAfterNanos : start + timeoutNanos;
        String key = key(url);
        for (int attempt = 0; ; attempt++) {
            Connection c = attempt == 0 ? pooled(key) : null;
            boolean reused = c != null;
            if (c == null) {
                c = connect(url, deadline);
            }
            boolean gotStatus = false;
            Response r;
            watchdog.watch(c, deadline);
            try {
                writeRequest(c, method, url, headers);
                String statusLine = c.in.readLine(MAX_HEADER_BYTES);
                gotStatus = true;
                r = readResponse(c, method, statusLine, body);
            } catch (IOException | RuntimeException e) {
                boolean late = !watchdog.release(c);
                c.close();
                if (late || e instanceof java.net.SocketTimeoutException) {
                    throw timedOut(method, url, start);
                }
                // A kept-alive connection the server closed while idle fails before any answer:
                // that is no fault of the server; try once more on a new connection.
                if (reused && !gotStatus && e instanceof IOException) {
                    continue;
                }
                throw e;
            }
            if (!watchdog.release(c)) {
                // The answer came as the deadline passed: the watchdog is closing the connection.
                c.close();
                throw timedOut(method, url, start);
            }
            if (!"close".equalsIgnoreCase(r.header("Connection")) && !closed) {
                release(key, c);
            } else {
                c.close();
            }
            return r;
        }
    }

    private RequestTimeoutException timedOut(String method, URI url, long start) {
        return new RequestTimeoutException(method + " " + url + " had no complete answer after "
                + Duration.ofNanos(System.nanoTime() - start).toMillis() + " ms (request timeout " + timeout.toMillis() + " ms)");
    }

    private static String key(URI url) {
        return url.getScheme().toLowerCase(Locale.ROOT) + "://" + url.getHost() + ":" + port(url);
    }

    private static int port(URI url) {
        return url.getPort() != -1 ? url.getPort() : url.getScheme().equalsIgnoreCase("https") ? 443 : 80;
    }

    private Connection pooled(String key) {
        ConcurrentLinkedDeque<Connection> q = idle.get(key);
        Connection c = q == null ? null : q.pollFirst();
        return c;
    }

    private void release(String key, Connection c) {
        ConcurrentLinkedDeque<Connection> q = idle.computeIfAbsent(key, k -> new ConcurrentLinkedDeque<>());
        if (q.size() >= MAX_IDLE_PER_SERVER) {
            c.close();
        } else {
            q.addFirst(c);
        }
    }

    /**
     * A new connection, connected within the connect timeout and before {@code deadline}. (A TLS
     * handshake happens at the first write, under the request's watchdog.)
     */
    private Connection connect(URI url, long deadline) throws IOException {
        long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (left <= 0) {
            throw new RequestTimeoutException("no time left to connect to " + url.getHost() + ":" + port(url));
        }
        int connectMillis = (int) Math.min(connectTimeoutMillis, left);
        Socket raw = new Socket();
        Socket socket = raw;
        try {
            raw.connect(new InetSocketAddress(url.getHost(), port(url)), connectMillis);
            if (url.getScheme().equalsIgnoreCase("https")) {
                SSLSocket tls = (SSLSocket) ((SSLSocketFactory) SSLSocketFactory.getDefault())
                        .createSocket(raw, url.getHost(), port(url), true);
                SSLParameters params = tls.getSSLParameters();
                params.setEndpointIdentificationAlgorithm("HTTPS");
                tls.setSSLParameters(params);
                socket = tls;
            }
            raw.setTcpNoDelay(true);
            // A silent server is noticed at once this way; the watchdog bounds the whole request.
            raw.setSoTimeout((int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
            raw.setKeepAlive(true);
            return new Connection(socket, raw);
        } catch (IOException | RuntimeException e) {
            socket.close();
            raw.close();
            throw e;
        }
    }

    private static void writeRequest(Connection c, String method, URI url, Map<String, String> headers) throws IOException {
        StringBuilder request = new StringBuilder(256).append(method).append(' ').append(url.getRawPath()).append(" HTTP/1.1\r\n")
                .append("Host: ").append(url.getHost());
        if (url.getPort() != -1) {
            request.append(':').append(url.getPort());
        }
        request.append("\r\nUser-Agent: branchboot-agent\r\n");
        for (Map.Entry<String, String> h : headers.entrySet()) {
            request.append(h.getKey()).append(": ").append(h.getValue()).append("\r\n");
        }
        request.append("\r\n");
        c.out.write(request.toString().getBytes(StandardCharsets.ISO_8859_1));
        c.out.flush();
    }

    private Response readResponse(Connection c, String method, String statusLine, ByteBuffer body) throws IOException {
        int status;
        Map<String, String> headers;
        for (int interim = 0; ; interim++) {
            status = status(statusLine);
            headers = readHeaders(c, statusLine.length());
            if (status >= 200) {
                break;
            }
            // RFC 9110 §15.2: a client must be able to parse one or more 1xx responses before the
            // final one, even one it did not expect (a 100 Continue it did not ask for), and skip
            // them. 101 switches protocols, which this client never asks for.
            if (status == 101) {
                throw new MalformedResponseException("101 Switching Protocols, which was not asked for");
            }
            if (interim == MAX_INTERIM) {
                throw new MalformedResponseException("more than " + MAX_INTERIM + " interim (1xx) responses");
            }
            statusLine = c.in.readLine(MAX_HEADER_BYTES);
        }
        long length = ContentLength.parse(headers.get("content-length"));
        String etag = headers.get("etag");
        if (etag != null && !isEntityTag(etag)) {
            // It is sent back in If-Match: the revision must be named in characters a header may hold.
            throw new MalformedResponseException("malformed ETag '" + PeerText.escape(etag, 80) + "'");
        }
        String location = headers.get("content-location");
        if (location != null && !isUriReference(location)) {
            throw new MalformedResponseException("malformed Content-Location '" + PeerText.escape(location, 80) + "'");
        }
        boolean noBody = method.equals("HEAD") || status == 204 || status == 304;
        if (noBody) {
            return new Response(status, headers);
        }
        if (headers.containsKey("transfer-encoding")) {
            throw new MalformedResponseException("Transfer-Encoding '" + PeerText.escape(headers.get("transfer-encoding"))
                    + "' is not supported for image data");
        }
        if (status == 206) {
            int expected = body == null ? 0 : body.remaining();
            if (length != expected) {
                throw new MalformedResponseException((length == ContentLength.ABSENT ? "no Content-Length" : "Content-Length " + length)
                        + " instead of the " + expected + " bytes asked for");
            }
            if (body != null) {
                readBody(c, body);
            }
            return new Response(status, headers);
        }
        if (length < 0 || length > MAX_DRAINED_BODY) {
            // Possibly the whole image (a 200): not worth reading, drop the connection instead.
            headers.put("connection", "close");
            return new Response(status, headers);
        }
        readBody(c, ByteBuffer.allocate((int) length));
        return new Response(status, headers);
    }

    /**
     * The status code of {@code statusLine}: {@code HTTP/1.x SP 3DIGIT}, then a space and a reason
     * phrase, or nothing.
     */
    private static int status(String line) throws MalformedResponseException {
        boolean ok = line.length() >= 12 && line.startsWith("HTTP/1.") && Character.isDigit(line.charAt(7))
                && line.charAt(8) == ' ' && (line.length() == 12 || line.charAt(12) == ' ');
        int status = 0;
        for (int i = 9; ok && i < 12; i++) {
            char d = line.charAt(i);
            ok = d >= '0' && d <= '9';
            status = status * 10 + d - '0';
        }
        if (!ok || status < 100 || status > 599) {
            throw new MalformedResponseException("malformed status line '" + PeerText.escape(line, 80) + "'");
        }
        return status;
    }

    /**
     * The header lines up to the empty one that ends them, the names of {@link #HEADERS_USED} in
     * lower case with their values. A header sent twice must say the same both times, except the
     * lists Connection and Transfer-Encoding (values joined with ", ") and Content-Length, which
     * {@link ContentLength} judges.
     */
    private static Map<String, String> readHeaders(Connection c, int statusBytes) throws IOException {
        Map<String, String> headers = new HashMap<>();
        int headerBytes = statusBytes;
        while (true) {
            String line = c.in.readHeaderLine(MAX_HEADER_BYTES, HEADERS_USED);
            if (line == ResponseInput.SKIPPED) {
                continue;
            }
            if (line.isEmpty()) {
                return headers;
            }
            headerBytes += line.length();
            if (headerBytes > MAX_HEADER_BYTES) {
                throw new MalformedResponseException("response headers longer than " + MAX_HEADER_BYTES + " bytes");
            }
            int colon = line.indexOf(':');
            if (colon <= 0 || line.charAt(0) == ' ' || line.charAt(0) == '\t') {
                // (A line that starts with white space continues the one before: obsolete, refused.)
                throw new MalformedResponseException("malformed header line '" + PeerText.escape(line, 80) + "'");
            }
            String name = line.substring(0, colon).toLowerCase(Locale.ROOT);
            String value = trimWhitespace(line.substring(colon + 1));
            String before = headers.putIfAbsent(name, value);
            if (before != null && !before.equals(value)) {
                if (name.equals("connection") || name.equals("transfer-encoding") || name.equals("content-length")) {
                    headers.put(name, before + ", " + value);
                } else {
                    throw new MalformedResponseException("two different " + name + " headers: '" + PeerText.escape(before, 80)
                            + "' and '" + PeerText.escape(value, 80) + "'");
                }
            }
        }
    }

    /** RFC 9110 §8.8.3: an optional {@code W/}, then {@code "}, characters from 0x21, 0x23-0x7E and 0x80-0xFF, {@code "}. */
    static boolean isEntityTag(String tag) {
        int from = tag.startsWith("W/") ? 2 : 0;
        if (tag.length() < from + 2 || tag.charAt(from) != '"' || tag.charAt(tag.length() - 1) != '"') {
            return false;
        }
        for (int i = from + 1; i < tag.length() - 1; i++) {
            char c = tag.charAt(i);
            if (c < 0x21 || c == '"' || c == 0x7F || c > 0xFF) {
                return false;
            }
        }
        return true;
    }

    /** Whether {@code s} is a URI reference (RFC 3986, as {@link URI} parses it), as Content-Location must be. */
    static boolean isUriReference(String s) {
        try {
            URI.create(s);
            return !s.isEmpty();
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** {@code s} without the spaces and tabs around it (HTTP's optional white space, nothing else). */
    static String trimWhitespace(String s) {
        int from = 0;
        int to = s.length();
        while (from < to && (s.charAt(from) == ' ' || s.charAt(from) == '\t')) {
            from++;
        }
        while (to > from && (s.charAt(to - 1) == ' ' || s.charAt(to - 1) == '\t')) {
            to--;
        }
        return s.substring(from, to);
    }

    /** Fills {@code body} from the connection: heap buffers directly, direct ones through the connection's scratch array. */
    private static void readBody(Connection c, ByteBuffer body) throws IOException {
        int wanted = body.remaining();
        int filled = 0;
        while (body.hasRemaining()) {
            int n;
            if (body.hasArray()) {
                n = c.in.read(body.array(), body.arrayOffset() + body.position(), body.remaining());
                if (n > 0) {
                    body.position(body.position() + n);
                }
            } else {
                if (c.scratch == null) {
                    c.scratch = new byte[SCRATCH_BYTES];
                }
                n = c.in.read(c.scratch, 0, Math.min(c.scratch.length, body.remaining()));
                if (n > 0) {
                    body.put(c.scratch, 0, n);
                }
            }
            if (n < 0) {
                throw new EOFException("the body ended after " + filled + " of " + wanted + " bytes");
            }
            filled += n;
        }
    }

    /** Closes every idle connection; connections in use close when their request ends. */
    @Override
    public void close() {
        closed = true;
        watchdog.close();
        for (ConcurrentLinkedDeque<Connection> q : idle.values()) {
            for (Connection c; (c = q.pollFirst()) != null; ) {
                c.close();
            }
        }
    }
}
