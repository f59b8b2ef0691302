package dev.branchboot.agent.http;

import dev.branchboot.agent.http.ServerPool.Server;
import dev.branchboot.agent.text.PeerText;
import dev.branchboot.integrity.TrustKey;
import dev.branchboot.qcow2.BackingChainException;
import dev.branchboot.qcow2.ByteSource;
import dev.branchboot.qcow2.ImageException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * One image file on the image servers, read with HTTP/1.1 range requests over kept-alive
 * connections ({@link Http11Client}); concurrent reads use concurrent connections.
 *
 * <p><b>Revision pinning.</b> At open a HEAD learns the size, the strong ETag and, from a
 * branchboot server, the {@code Content-Location} of the revision behind a symlinked name: the pin
 * is the ETag and the Content-Location together, because an ETag alone does not tell two
 * revisions apart when the origin makes it from the time and size (nginx's {@code "mtime-size"}:
 * two files written in the same second with the same size share it). The agent then reads the
 * revision's own name and sends {@code If-Match: ETAG} with every request, so a republished image
 * can never mix bytes of two revisions into one disk: a server that answers {@code 412} (or with
 * another ETag or length, or with a Content-Location naming another file) no longer has this
 * revision and is not asked again for this file; so is one that answers {@code 404} or {@code 410}
 * for it and confirms that with a {@code HEAD} (the file moved or was deleted). When the
 * Content-Location names no file in the servers' folder (a branch passing on the location of an
 * origin that keeps its images elsewhere), the agent reads the name it opened, and every answer
 * must carry the pinned Content-Location: another one, or none, means the name has moved on to
 * another revision. When no server has the revision, reads fail at once with
 * {@link RevisionUnavailableException}, naming it: waiting out the retry deadline would not bring it
 * back. A server that is merely down or erring keeps being retried.
 *
 * <p><b>Strict responses.</b> Only a {@code 206} whose {@code Content-Range} is exactly the range
 * asked for (and the pinned length) and whose body has exactly that many bytes is data. A
 * {@code 200} (a server ignoring ranges), another range, a short or long body are faults of
 * that server.
 *
 * <p><b>Retries.</b> Connection failures, resets, timeouts, 5xx, 429 and malformed answers are
 * transient: the server is marked down in the {@link ServerPool} (which fails over to the next
 * one) and the request is tried again, with exponential backoff and jitter when no server is up,
 * until {@link HttpSettings#retryDeadline()}. Only then does the reader see an error, naming the
 * image, offset, servers and the last cause. The deadline bounds one {@link #read} as a whole, by
 * the clock: no attempt starts after it, a backoff never sleeps past it, and each request takes at
 * most {@link HttpSettings#requestTimeout()} (whatever a server trickles), so a read ends within
 * the deadline plus one request timeout.
 *
 * <p><b>Signed manifests.</b> With a trust key (given to {@link #open}), the pinned revision's
 * manifest ({@code NAME.manifest}, fetched from the same servers) must be signed by that key and
 * describe a file of the pinned length, or the open fails. Every fetch is then widened to whole
 * 4 KiB blocks and checked against the manifest before a byte of it is returned: bytes that do
 * not match are that server's fault, retried and failed over like a 503, and never returned.
 */
public final class HttpRangeSource implements ByteSource {
    private static final Logger LOG = Logger.getLogger(HttpRangeSource.class.getName());
    /** Larger reads are split so one response buffer stays bounded. */
    static final int MAX_REQUEST = 8 << 20;
    private static final long FIRST_BACKOFF_MILLIS = 50;
    private static final long MAX_BACKOFF_MILLIS = 2000;

    private final HttpTransport transport;
    /** Opens the backing file named inside this image, pinned like this one. */
    private final BackingFileOpener backing;
    private final String name;
    private final String etag;
    private final long size;
    private final String displayName;
    private final Set<Server> wrongRevision = ConcurrentHashMap.newKeySet();
    /** This file's URL on each server, resolved once rather than per request. */
    private final java.util.Map<Server, URI> urls = new ConcurrentHashMap<>();
    /** Checks every fetch against the signed manifest; {@code null} without a trust key. */
    private volatile dev.branchboot.integrity.ImageVerifier verifier;

    private HttpRangeSource(HttpTransport transport, BackingFileOpener backing, Head head) {
        this.transport = transport;
        this.backing = backing;
        this.name = head.revisionName();
        this.etag = head.etag();
        this.size = head.size();
        this.byLocation = head.byLocation();
        this.location = head.location();
        this.displayName = transport.preferredUrl(name).toString();
    }

    /**
     * Whether {@link #name} is the revision's own name, taken from the Content-Location at open:
     * then an answer may carry no Content-Location (the name is no symlink), or one naming it.
     */
    private final boolean byLocation;
    /**
     * The Content-Location pinned at open when it names no file in the servers' folder, as
     * {@link #locationKey} has it, and {@link #name} is the name opened: every answer must carry it.
     * {@code null} when there was none, or {@link #byLocation}.
     */
    private final String location;

    /**
     * What a HEAD at open found out.
     *
     * @param revisionName the name to read: the revision's own (from the Content-Location), or the one opened
     * @param byLocation   whether {@code revisionName} came from the Content-Location
     * @param location     the pinned Content-Location that names no file in the folder, as {@link #locationKey} has it
     */
    private record Head(long size, String etag, String revisionName, boolean byLocation, String location) {
    }

    /**
     * Opens {@code name} (a path relative to the servers' images folder) on {@code transport}: asks
     * the servers in order, retrying transient faults until the deadline, and pins the revision the
     * first answering server has.
     *
     * <p>With a {@code trustKey}, the revision's manifest must be signed by it, and every byte read
     * is checked against the manifest; {@code null} reads the bytes unchecked. A manifest itself is
     * opened without a key: its signature covers its head, and the head's digests cover its pages.
     * {@code backing} opens the backing file this image names, when the chain asks for it
     * ({@link #resolveSibling}).
     *
     * @throws HttpImageException naming the image when no server has it, or none answered within
     *                            the retry deadline
     * @throws dev.branchboot.integrity.ManifestException naming the image when, with a trust key,
     *                            its manifest is missing, not signed by that key, or of another file
     */
    static HttpRangeSource open(HttpTransport transport, String name, TrustKey trustKey,
            BackingFileOpener backing) throws IOException {
        ServerPool pool = transport.pool();
        HttpSettings settings = transport.settings();
        long deadline = System.nanoTime() + settings.retryDeadline().toNanos();
        long notAfter = deadline + settings.requestTimeout().toNanos();
        Set<Server> missing = ConcurrentHashMap.newKeySet();
        StringBuilder answers = new StringBuilder();
        for (int attempt = 0; ; attempt++) {
            Server server = pool.pick(missing);
            if (server == null) {
                throw new HttpImageException(name, ImageException.NO_OFFSET, "not found on any server:" + answers, null);
            }
            URI url = server.base.resolve(Names.encode(name));
            String fault;
            try {
                Http11Client.Response response = transport.client().send("HEAD", url, java.util.Map.of(), null, notAfter);
                int status = response.status();
                if (status == 200) {
                    Head head = head(server, url, response, name);
                    pool.succeeded(server);
                    HttpRangeSource source = new HttpRangeSource(transport, backing, head);
                    if (trustKey != null) {
                        source.verifier = ManifestLoader.load(transport, source, name, trustKey);
                    }
                    LOG.info("opened " + url + ": " + head.size() + " bytes, revision "
                            + (head.etag() == null ? "(no ETag)" : PeerText.escape(head.etag()))
                            + (head.revisionName().equals(name) ? "" : " as " + PeerText.escape(head.revisionName())));
                    return source;
                }
                if (status == 404 || status == 403 || status == 410) {
                    missing.add(server);
                    answers.append(' ').append(url).append(" answered ").append(status).append(';');
                    continue;
                }
                fault = "HTTP " + status;
            } catch (IOException e) {
                fault = describe(e);
            }
            pool.failed(server, fault);
            transport.stats().retried();
            if (attempt == 0) {
                LOG.warning("cannot open " + url + " (" + fault + "); retrying " + (pool.servers().size() > 1 ? "the servers "
                        + pool.servers() + " " : "") + "for up to " + settings.retryDeadline().toSeconds() + " s (--retry-deadline)");
            }
            if (!backoff(attempt, pool, missing, deadline)) {
                throw new HttpImageException(name, ImageException.NO_OFFSET, "cannot open: no server answered within "
                        + settings.retryDeadline().toSeconds() + " s; last: " + url + ": " + fault, null);
            }
        }
    }

    private static Head head(Server server, URI url, Http11Client.Response headers, String requested) throws IOException {
        // Held to 1*DIGIT when the answer was read: a malformed one never gets here.
        long length = ContentLength.parse(headers.header("Content-Length"));
        if (length < 0) {
            throw new HttpImageException(requested, ImageException.NO_OFFSET, url + " sent no Content-Length", null);
        }
        String tag = headers.header("ETag");
        if (tag != null && tag.startsWith("W/")) {
            LOG.warning(url + " sends only a weak ETag " + PeerText.escape(tag) + ": revision changes are detected by length only");
            tag = null;
        } else if (tag == null) {
            LOG.warning(url + " sends no ETag: revision changes are detected by length only");
        }
        String location = headers.header("Content-Location");
        if (location == null) {
            return new Head(length, tag, requested, false, null);
        }
        String relative = fileInFolder(server, url, location);
        if (relative != null) {
            return new Head(length, tag, relative, true, null);
        }
        LOG.warning(url + ": its Content-Location " + PeerText.escape(location) + " names no file in " + server.base
                + "; reading " + url + " as long as its answers carry that Content-Location");
        return new Head(length, tag, requested, false, locationKey(url, location));
    }

    /**
     * The file {@code location} (a Content-Location of an answer from {@code url}) names in
     * {@code server}'s images folder, or {@code null} when it names none there (or a name no file
     * should have: one with control characters).
     */
    private static String fileInFolder(Server server, URI url, String location) {
        String relative = Names.underBase(server.base, url.resolve(URI.create(location)));
        return relative == null || relative.chars().anyMatch(Character::isISOControl) ? null : relative;
    }

    /**
     * A Content-Location sent with an answer from {@code url}, in a form that compares equal for
     * every server: an absolute URL as it resolves, a path (the usual form) as the path it
     * resolves to, whichever server sent it.
     */
    private static String locationKey(URI url, String location) {
        URI given = URI.create(location);
        URI resolved = url.resolve(given).normalize();
        if (given.getScheme() != null || given.getRawAuthority() != null) {
            return resolved.toString();
        }
        return resolved.getRawPath() + (resolved.getRawQuery() == null ? "" : "?" + resolved.getRawQuery());
    }

    /**
     * Why {@code answer}, from {@code server} for this file's {@code url}, is not of the pinned
     * revision by its Content-Location, or {@code null} when it may be: read by the revision's own
     * name, the answer may name it or nothing; read by the name opened, it must carry the pinned
     * Content-Location, if there was one.
     */
    private String otherLocation(Server server, URI url, Http11Client.Response answer) {
        String sent = answer.header("Content-Location");
        if (byLocation) {
            if (sent != null && !name.equals(fileInFolder(server, url, sent))) {
                return "Content-Location " + PeerText.escape(sent) + ": " + PeerText.escape(name) + " now answers for another file";
            }
        } else if (location != null) {
            if (sent == null) {
                return "no Content-Location, where " + PeerText.escape(location) + " was pinned";
            }
            if (!location.equals(locationKey(url, sent))) {
                return "Content-Location " + PeerText.escape(sent) + " instead of " + PeerText.escape(location);
            }
        }
        return null;
    }

    /** The pinned revision as messages show it: its ETag (or length) and name, escaped. */
    private String revision() {
        return (etag == null ? "(length " + size + ")" : PeerText.escape(etag)) + " of " + PeerText.escape(name);
    }

    /** The path of the pinned revision relative to the servers' images folder. */
    public String path() {
        return name;
    }

    /** The pinned ETag, or {@code null} when the server sends none. */
    public String etag() {
        return etag;
    }

    /**
     * The pinned Content-Location when it names no file in the servers' folder (so {@link #path()}
     * is the name opened, and only this Content-Location tells its revision apart), else {@code null}.
     */
    public String pinnedLocation() {
        return location;
    }

    @Override
    public String name() {
        return displayName;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public Object identity() {
        return "remote:" + name;
    }

    @Override
    public int read(long position, ByteBuffer dst) throws IOException {
        if (position < 0) {
            throw new IllegalArgumentException("negative position");
        }
        int wanted = (int) Math.max(0, Math.min(dst.remaining(), size - position));
        int done = 0;
        long deadline = System.nanoTime() + transport.settings().retryDeadline().toNanos();
        while (done < wanted) {
            int length = Math.min(MAX_REQUEST, wanted - done);
            fetch(position + done, dst.slice(dst.position(), length), deadline);
            dst.position(dst.position() + length);
            done += length;
        }
        return done;
    }

    /** A server's answer that is not this range of this revision. */
    private static final class Fault extends Exception {
        private static final long serialVersionUID = 1L;
        final boolean wrongRevision;
        final boolean notFound;

        Fault(String message, boolean wrongRevision) {
            this(message, wrongRevision, false);
        }

        Fault(String message, boolean wrongRevision, boolean notFound) {
            super(message, null, false, false);
            this.wrongRevision = wrongRevision;
            this.notFound = notFound;
        }
    }

    /**
     * The retry deadline of the fetch this thread is in ({@link System#nanoTime()}), or null: a
     * manifest page fetched to check an image fetch is part of that fetch, and must not start a
     * deadline of its own.
     */
    private static final ThreadLocal<Long> FETCH_DEADLINE = new ThreadLocal<>();

    /**
     * Fills {@code into} (its remaining bytes) with the bytes at {@code offset}, retried and failed
     * over until the retry deadline from now; its position is left unspecified.
     */
    void fetch(long offset, ByteBuffer into) throws IOException {
        fetch(offset, into, System.nanoTime() + transport.settings().retryDeadline().toNanos());
    }

    /** As {@link #fetch(long, ByteBuffer)}, retrying until {@code deadline} ({@link System#nanoTime()}). */
    private void fetch(long offset, ByteBuffer into, long deadline) throws IOException {
        Long outer = FETCH_DEADLINE.get();
        if (outer != null) {
            deadline = outer - deadline < 0 ? outer : deadline;
        } else {
            FETCH_DEADLINE.set(deadline);
        }
        try {
            fetchWithin(offset, into, deadline);
        } finally {
            if (outer == null) {
                FETCH_DEADLINE.remove();
            }
        }
    }

    private void fetchWithin(long offset, ByteBuffer into, long deadline) throws IOException {
        dev.branchboot.integrity.ImageVerifier check = verifier;
        if (check != null) {
            long first = check.blockStart(offset);
            long end = check.blockEnd(offset + into.remaining());
            if (first != offset || end != offset + into.remaining()) {
                // Only whole blocks can be checked: fetch them, hand out the part asked for.
                ByteBuffer blocks = ByteBuffer.allocate((int) (end - first));
                fetchChecked(first, blocks.duplicate(), check, deadline);
                int from = (int) (offset - first);
                into.put(blocks.duplicate().clear().position(from).limit(from + into.remaining()));
                return;
            }
        }
        fetchChecked(offset, into, check, deadline);
    }

    private void fetchChecked(long offset, ByteBuffer into, dev.branchboot.integrity.ImageVerifier check, long deadline)
            throws IOException {
        int length = into.remaining();
        int start0 = into.position();
        ServerPool pool = transport.pool();
        HttpSettings settings = transport.settings();
        long start = System.nanoTime();
        // A request started before the deadline may take its whole timeout, no request longer.
        long notAfter = deadline + settings.requestTimeout().toNanos();
        String lastFault = null;
        Server lastServer = null;
        for (int attempt = 0; ; attempt++) {
            Server server = pool.pick(wrongRevision);
            if (server == null) {
                // The servers may have been found on another revision by earlier reads: then this one asked nobody.
                throw new RevisionUnavailableException(displayName, offset, "no server has the pinned revision "
                        + revision() + " any more (servers: " + pool.servers() + "); " + (lastServer == null
                                ? "each answered with another revision at an earlier read"
                                : "last answer: " + lastServer + ": " + lastFault));
            }
            try {
                long t0 = System.nanoTime();
                into.position(start0); // a failed attempt may have filled part of it
                exchange(server, offset, into, notAfter);
                if (check != null) {
                    verify(check, offset, into.duplicate().position(start0).limit(start0 + length));
                }
                long t1 = System.nanoTime();
                transport.listener().fetched(name, offset, length, t0, t1);
                transport.stats().fetched(length, t1 - t0);
                pool.succeeded(server);
                if (attempt > 0) {
                    LOG.info(displayName + ": offset " + offset + " read from " + server + " after " + attempt + " failed attempts ("
                            + Duration.ofNanos(System.nanoTime() - start).toMillis() + " ms)");
                }
                return;
            } catch (Fault f) {
                lastFault = f.getMessage();
                lastServer = server;
                if (f.notFound && revisionGoneFrom(server, notAfter)) {
                    lastFault += ", and a HEAD confirmed it";
                    if (wrongRevision.add(server)) {
                        LOG.warning(server + " no longer has revision " + revision() + " (" + lastFault
                                + "); not asking it for this image again");
                    }
                    continue;
                }
                if (f.wrongRevision) {
                    if (wrongRevision.add(server)) {
                        LOG.warning(server + " no longer has revision " + revision() + " (" + f.getMessage()
                                + "); not asking it for this image again");
                    }
                    continue;
                }
            } catch (IOException e) {
                lastFault = describe(e);
                lastServer = server;
            }
            pool.failed(server, "reading " + PeerText.escape(name) + " at offset " + offset + ": " + lastFault);
            transport.stats().retried();
            if (!backoff(attempt, pool, wrongRevision, deadline)) {
                throw new HttpImageException(displayName, offset, "gave up after " + (attempt + 1) + " attempts in "
                        + Duration.ofNanos(System.nanoTime() - start).toMillis() + " ms (--retry-deadline "
                        + settings.retryDeadline().toMillis() + " ms, --request-timeout " + settings.requestTimeout().toMillis()
                        + " ms; servers " + pool.servers() + "); last: " + lastServer + ": " + lastFault, null);
            }
        }
    }

    private static void verify(dev.branchboot.integrity.ImageVerifier check, long offset, ByteBuffer bytes) throws Fault, IOException {
        try {
            check.verify(offset, bytes);
        } catch (dev.branchboot.integrity.ManifestException e) {
            throw new Fault(e.getMessage(), false);
        }
    }

    /** The revision's identity from its signed manifest ({@code sha256:...}), or {@code null} without a trust key. */
    public String verifiedRevision() {
        dev.branchboot.integrity.ImageVerifier check = verifier;
        return check == null ? null : check.manifest().revision();
    }

    /**
     * Before the next attempt: false when {@code deadline} has passed (no attempt starts after
     * it); otherwise true, after sleeping (never past the deadline) when the attempt would go to a
     * server that is down (no other is up).
     */
    private static boolean backoff(int attempt, ServerPool pool, Set<Server> excluded, long deadline)
            throws InterruptedIOException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            return false;
        }
        if (pool.anyUp(excluded)) {
            return true;
        }
        long cap = Math.min(MAX_BACKOFF_MILLIS, FIRST_BACKOFF_MILLIS << Math.min(attempt, 10));
        long sleep = Math.min(cap / 2 + ThreadLocalRandom.current().nextLong(cap / 2 + 1), TimeUnit.NANOSECONDS.toMillis(left));
        try {
            Thread.sleep(sleep);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to retry");
        }
        return System.nanoTime() - deadline < 0;
    }

    private void exchange(Server server, long offset, ByteBuffer into, long notAfter) throws IOException, Fault {
        int length = into.remaining();
        URI url = urls.computeIfAbsent(server, s -> s.base.resolve(Names.encode(name)));
        long last = offset + length - 1;
        java.util.Map<String, String> headers = new java.util.LinkedHashMap<>();
        headers.put("Range", "bytes=" + offset + "-" + last);
        if (etag != null) {
            headers.put("If-Match", etag);
        }
        Http11Client.Response response = transport.client().send("GET", url, headers, into, notAfter);
        int status = response.status();
        if (status == 412 || status == 416) {
            throw new Fault("HTTP " + status + (status == 412 ? " Precondition Failed" : " Range Not Satisfiable"), true);
        }
        if (status == 404 || status == 410) {
            throw new Fault("HTTP " + status + " for the pinned revision's name", false, true);
        }
        if (status != 206) {
            throw new Fault("HTTP " + status + (status == 200 ? " (the whole file instead of the range asked for)" : ""), false);
        }
        String sentTag = response.header("ETag");
        if (etag != null && sentTag != null && !sentTag.equals(etag)) {
            throw new Fault("ETag " + PeerText.escape(sentTag) + " instead of " + PeerText.escape(etag), true);
        }
        String moved = otherLocation(server, url, response);
        if (moved != null) {
            throw new Fault(moved, true);
        }
        String range = response.header("Content-Range");
        long[] parsed = range == null ? null : ContentRange.parse(range);
        if (parsed == null) {
            throw new Fault("206 with " + (range == null ? "no Content-Range" : "a malformed Content-Range '"
                    + PeerText.escape(range) + "'"), false);
        }
        if (parsed[0] != offset || parsed[1] != last) {
            throw new Fault("Content-Range '" + PeerText.escape(range) + "' instead of bytes " + offset + "-" + last, false);
        }
        if (parsed[2] != ContentRange.UNKNOWN_LENGTH && parsed[2] != size) {
            throw new Fault("Content-Range '" + PeerText.escape(range) + "' gives the file length as " + parsed[2] + ", pinned "
                    + size, true);
        }
    }

    /**
     * Whether {@code server}, which just answered 404 or 410 for this file, has really lost it: a
     * HEAD of the pinned name answers 404 or 410 too, or another revision. A 404 from a server
     * restarting with its folder not yet mounted, or a HEAD that fails, is a passing fault.
     */
    private boolean revisionGoneFrom(Server server, long notAfter) {
        URI url = urls.computeIfAbsent(server, s -> s.base.resolve(Names.encode(name)));
        try {
            Http11Client.Response head = transport.client().send("HEAD", url, java.util.Map.of(), null, notAfter);
            int status = head.status();
            if (status == 404 || status == 410) {
                return true;
            }
            String tag = head.header("ETag");
            return status == 200 && (etag != null && tag != null && !tag.equals(etag) || otherLocation(server, url, head) != null);
        } catch (IOException e) {
            return false;
        }
    }

    static String describe(Throwable e) {
        // Ours are escaped already; the JDK's (TLS, sockets) may quote what a server sent.
        String message = e.getMessage() == null ? null : PeerText.escape(e.getMessage(), 1000);
        String type = e.getClass().getSimpleName();
        if (e instanceof MalformedResponseException) {
            return "malformed answer: " + message;
        }
        if (e instanceof RequestTimeoutException) {
            return "timed out: " + message;
        }
        if (e instanceof java.net.SocketTimeoutException) {
            return "timed out";
        }
        if (e instanceof java.net.ConnectException) {
            return "connection refused or unreachable";
        }
        return message == null || message.isBlank() ? type : type + ": " + message;
    }

    /**
     * The backing file {@code backingName} named inside this image, resolved relative to this
     * image's URL on the same servers (and pinned the same way). An absolute path is taken to mean
     * the file of that name next to this image, as for local files.
     */
    @Override
    public ByteSource resolveSibling(String backingName) throws IOException {
        String relative = backingName;
        if (backingName.startsWith("/")) {
            relative = backingName.substring(backingName.lastIndexOf('/') + 1);
            if (relative.isEmpty()) {
                throw new BackingChainException(displayName, "backing file '" + PeerText.escape(backingName) + "' has no file name");
            }
        }
        URI base = transport.pool().servers().get(0).base;
        URI resolved = base.resolve(Names.encode(name)).resolve(Names.encode(relative));
        String under = Names.underBase(base, resolved);
        if (under == null) {
            throw new BackingChainException(displayName, "backing file '" + PeerText.escape(backingName)
                    + "' lies outside the servers' images folder " + base);
        }
        return backing.open(under);
    }

    @Override
    public void close() {
        // The HTTP client and the server pool belong to the transport, shared by the whole chain.
    }
}
