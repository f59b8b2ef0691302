package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.testkit.Nginx;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An agent reads its disk as one keep-alive connection of back-to-back range requests, the next
 * one sent the moment the last byte of the previous response arrived. Through a cold branch whose
 * revisions are asked for again every 50 ms, 600 such reads (misses, hits, revalidations) must
 * each be answered: a request that the server accepts and never answers stalls a PC until its
 * request timeout. (A resolver that answered known revisions without its hop to a blocking thread
 * lost about one in twenty of the requests that revalidated, this way: the handler was cancelled
 * right after it was subscribed. Likely the Reactor Netty bug that {@code QueuedRequestDispatch}
 * works around: a queued request answered at once after one answered on another thread.)
 */
class KeepAliveReadsTest {
    private static final int SIZE = 48 * 1024 * 1024;

    @Test
    void sixHundredBackToBackReadsOnOneConnectionAreAllAnswered(@TempDir Path temp) throws Exception {
        byte[] disk = new byte[SIZE];
        new Random(21).nextBytes(disk);
        Path origin = Files.createDirectories(temp.resolve("origin"));
        Files.write(origin.resolve("disk.raw"), disk);
        try (Nginx nginx = Nginx.start(temp.resolve("nginx"), origin);
             BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"),
                     "--branchboot.cache.revalidate-interval=50ms");
             Socket socket = new Socket(InetAddress.getLoopbackAddress(), branch.port())) {
            socket.setSoTimeout(10_000);
            socket.setTcpNoDelay(true);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            Random random = new Random(22);
            int[] offsets = new int[600];
            for (int i = 0; i < 600; i++) {
                // Half of them again at an offset read before: hits among the misses.
                int first = i > 0 && random.nextBoolean() ? offsets[random.nextInt(i)] : random.nextInt(SIZE - 40_000);
                offsets[i] = first;
                int last = first + 39_999;
                out.write(("GET /images/disk.raw HTTP/1.1\r\nHost: branch\r\nRange: bytes=" + first + "-" + last + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                String head = readHead(in, i, first);
                assertEquals("HTTP/1.1 206 Partial Content", head.substring(0, head.indexOf('\r')), head);
                byte[] body = in.readNBytes(40_000);
                assertArrayEquals(Arrays.copyOfRange(disk, first, last + 1), body, "read " + i + " at " + first);
            }
        }
    }

    private static String readHead(InputStream in, int read, int offset) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4) {
            int b;
            try {
                b = in.read();
            } catch (java.net.SocketTimeoutException e) {
                throw new AssertionError("read " + read + " (bytes " + offset + "-) was never answered", e);
            }
            if (b < 0) {
                throw new AssertionError("the branch closed the connection at read " + read);
            }
            head.write(b);
            matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        return head.toString(StandardCharsets.US_ASCII);
    }
}
