package dev.branchboot.server.connections;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.BranchServer;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

/**
 * Slow-loris clients against a server with a 1 s request-headers timeout and a 3 s idle timeout:
 * a client that dribbles its request head is cut off while a normal client on another connection
 * is served, on a connection's first request and on a kept-alive one's next; an idle kept-alive
 * connection outlives the headers timeout (it is the idle timeout's) and is then closed. Neither a
 * crowd of clients cut off mid-head nor a flood of malformed request heads leaves more than a line
 * or two in the log (Reactor Netty's own line per connection is replaced by a rate-limited one).
 */
@ExtendWith(OutputCaptureExtension.class)
class SlowClientTest {
    private static final byte[] DISK = new byte[64 * 1024];
    private static final String REQUEST = "GET /images/disk.raw HTTP/1.1\r\nHost: branch\r\nRange: bytes=0-99\r\n\r\n";

    @TempDir
    static Path temp;
    private static BranchServer server;

    @BeforeAll
    static void start() throws IOException {
        new Random(16).nextBytes(DISK);
        Path images = Files.createDirectories(temp.resolve("images"));
        Files.write(images.resolve("disk.raw"), DISK);
        server = BranchServer.start("file:" + images, temp.resolve("cache"), "--branchboot.request-headers-timeout=1s",
                "--server.netty.idle-timeout=3s");
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private Socket connect() throws IOException {
        Socket socket = new Socket(InetAddress.getLoopbackAddress(), server.port());
        socket.setSoTimeout(30_000);
        return socket;
    }

    /** Sends a request head a byte every 200 ms, with a normal read served meanwhile; true if the server cut it off. */
    private boolean dribbleIsCutOff(Socket socket) throws Exception {
        OutputStream out = socket.getOutputStream();
        byte[] head = REQUEST.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < head.length; i++) {
            try {
                out.write(head[i]);
                out.flush();
            } catch (SocketException closed) {
                return true;
            }
            if (i == 3) {
                assertEquals(206, server.get("/images/disk.raw", "Range", "bytes=0-99").statusCode(),
                        "a normal client is served while a slow one dribbles");
            }
            Thread.sleep(200); // the pace of the attack: 40+ bytes at 5 bytes/s outlast the 1 s timeout
        }
        // Every byte went out before the server's close reached us: the close must be there now.
        return endOfStream(socket.getInputStream());
    }

    private static boolean endOfStream(InputStream in) throws IOException {
        try {
            return in.read() == -1;
        } catch (SocketException reset) {
            return true;
        }
    }

    private static String readResponse(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            assertTrue(b >= 0, "the connection closed in the middle of a response head: " + head);
            head.append((char) b);
        }
        byte[] body = in.readNBytes(100);
        assertEquals(100, body.length);
        return head.toString();
    }

    @Test
    void aClientDribblingItsFirstRequestHeadIsCutOffAndCounted() throws Exception {
        double before = timeouts();
        try (Socket socket = connect()) {
            assertTrue(dribbleIsCutOff(socket), "the server kept a connection whose request head took 8 s");
        }
        assertTrue(timeouts() > before, "the close is counted in branchboot_http_request_headers_timeouts_total");
    }

    @Test
    void aKeptAliveConnectionDribblingItsNextRequestIsCutOff() throws Exception {
        try (Socket socket = connect()) {
            socket.getOutputStream().write(REQUEST.getBytes(StandardCharsets.US_ASCII));
            assertTrue(readResponse(socket.getInputStream()).startsWith("HTTP/1.1 206"));
            assertTrue(dribbleIsCutOff(socket), "the server kept a connection whose second request head took 8 s");
        }
    }

    @Test
    void anIdleKeptAliveConnectionOutlivesTheHeadersTimeoutAndIsClosedAtTheIdleTimeout() throws Exception {
        try (Socket socket = connect()) {
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            out.write(REQUEST.getBytes(StandardCharsets.US_ASCII));
            readResponse(in);
            Thread.sleep(1_500); // idle longer than the 1 s headers timeout, well within the 3 s idle timeout
            out.write(REQUEST.getBytes(StandardCharsets.US_ASCII));
            assertTrue(readResponse(in).startsWith("HTTP/1.1 206"), "an idle connection is not a slow request");
            long idleSince = System.nanoTime();
            assertTrue(endOfStream(in), "an idle kept-alive connection is closed");
            long idleMillis = (System.nanoTime() - idleSince) / 1_000_000;
            assertTrue(idleMillis >= 2_000, "closed after " + idleMillis + " ms idle, before the 3 s idle timeout");
        }
    }

    @Test
    void manyClientsCutOffInTheirHeadersLeaveAFewLogLines(CapturedOutput output) throws Exception {
        int from = output.getAll().length();
        double before = timeouts();
        List<Socket> sockets = new ArrayList<>();
        try {
            for (int i = 0; i < 30; i++) {
                Socket socket = connect();
                // The request line arrives whole, so the connection is cut in the middle of a request's head.
                socket.getOutputStream().write("GET /images/disk.raw HTTP/1.1\r\nHost: branch\r\n".getBytes(StandardCharsets.US_ASCII));
                sockets.add(socket);
            }
            long deadline = System.nanoTime() + 30_000_000_000L;
            for (Socket socket : sockets) {
                assertTrue(endOfStream(socket.getInputStream()), "the server cut off a client whose head stopped");
                assertTrue(System.nanoTime() < deadline);
            }
        } finally {
            for (Socket socket : sockets) {
                socket.close();
            }
        }
        assertEquals(30, timeouts() - before, "every connection cut off is counted");
        // The deadline's own line may have gone out in an earlier test of this server less than 10 s ago.
        List<String> warnings = output.getAll().substring(from).lines().filter(line -> line.contains(" WARN ")).toList();
        assertTrue(warnings.size() <= 1, warnings.size() + " WARN lines:\n" + String.join("\n", warnings));
    }

    @Test
    void aFloodOfMalformedRequestsIsAnsweredCountedAndLoggedOnce(CapturedOutput output) throws Exception {
        int from = output.getAll().length();
        double before = server.bean(MeterRegistry.class).counter("branchboot.http.malformed.requests").count();
        String tooLong = "GET /images/" + "a".repeat(10_000) + " HTTP/1.1\r\nHost: branch\r\n\r\n";
        for (int i = 0; i < 30; i++) {
            try (Socket socket = connect()) {
                socket.getOutputStream().write(tooLong.getBytes(StandardCharsets.US_ASCII));
                String answer = new String(socket.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
                assertEquals("HTTP/1.1 414", answer);
            }
        }
        assertEquals(30, server.bean(MeterRegistry.class).counter("branchboot.http.malformed.requests").count() - before);
        List<String> warnings = output.getAll().substring(from).lines().filter(line -> line.contains(" WARN ")).toList();
        assertTrue(!warnings.isEmpty() && warnings.size() <= 2, warnings.size() + " WARN lines:\n" + String.join("\n", warnings));
        assertTrue(warnings.get(0).contains("Refused a malformed request from /127.0.0.1:"), warnings.get(0));
    }

    private static double timeouts() {
        return server.bean(MeterRegistry.class).counter("branchboot.http.request.headers.timeouts").count();
    }
}
