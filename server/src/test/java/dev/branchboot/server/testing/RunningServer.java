package dev.branchboot.server.testing;

import dev.branchboot.testkit.ConformanceImages;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.Stream;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Base of the tests that talk HTTP to a real server: one Spring Boot application on a random port
 * of 127.0.0.1, shared by every subclass (same configuration, so Spring's context cache reuses it),
 * serving a fixture directory made once per JVM under {@code target/server-test}.
 *
 * <p>Fixture: {@code disk.raw} (1 MiB of seeded random bytes), {@code empty.raw}, a nested
 * {@code sub/dir/nested.raw}, hidden and {@code .part} files, symlinks pointing outside the root
 * ({@code evil}, {@code evil-dir}) at {@code outside/secret.txt}, which holds {@link #SECRET}, and
 * QCOW2 images made by qemu-img ({@code win11@1.qcow2} zstd, {@code overlay.qcow2} over it, with
 * {@code win11.qcow2} a symlink to the first).
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = "server.address=127.0.0.1")
public abstract class RunningServer {
    /** The marker in the file outside the root that must never be served. */
    public static final String SECRET = "TOP-SECRET-MARKER-7f3a";
    /** The fixture's base directory; the image root is {@code images} inside it. */
    public static final Path BASE;
    /** The image root the server serves. */
    public static final Path ROOT;
    /** Contents of {@code disk.raw}. */
    public static final byte[] DISK;

    static {
        try {
            BASE = Path.of("target", "server-test").toAbsolutePath();
            if (Files.exists(BASE)) {
                try (Stream<Path> walk = Files.walk(BASE)) {
                    for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                        Files.delete(p);
                    }
                }
            }
            ROOT = Files.createDirectories(BASE.resolve("images"));
            DISK = new byte[1 << 20];
            new Random(20261124L).nextBytes(DISK);
            Files.write(ROOT.resolve("disk.raw"), DISK);
            Files.write(ROOT.resolve("empty.raw"), new byte[0]);
            Files.createDirectories(ROOT.resolve("sub/dir"));
            Files.writeString(ROOT.resolve("sub/dir/nested.raw"), "nested image bytes");
            Files.writeString(ROOT.resolve(".hidden.raw"), "hidden");
            Files.writeString(ROOT.resolve("upload.qcow2.part"), "half written");
            Path outside = Files.createDirectories(BASE.resolve("outside"));
            Files.writeString(outside.resolve("secret.txt"), SECRET);
            Files.createSymbolicLink(ROOT.resolve("evil"), Path.of("../outside/secret.txt"));
            Files.createSymbolicLink(ROOT.resolve("evil-dir"), Path.of("../outside"));
            Files.createSymbolicLink(ROOT.resolve("absolute-evil"), outside.resolve("secret.txt"));
            ConformanceImages.run(ROOT, "qemu-img", "create", "-q", "-f", "qcow2", "-o",
                    "compression_type=zstd,cluster_size=131072", "win11@1.qcow2", "3G");
            ConformanceImages.run(ROOT, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10",
                    "-b", "win11@1.qcow2", "-F", "qcow2", "overlay.qcow2");
            Files.createSymbolicLink(ROOT.resolve("win11.qcow2"), Path.of("win11@1.qcow2"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @DynamicPropertySource
    static void imagesDirectory(DynamicPropertyRegistry registry) {
        registry.add("branchboot.images-dir", ROOT::toString);
    }

    @LocalServerPort
    protected int port;

    /** A URL on the server. */
    protected URI url(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    /** Sends a request with header name/value pairs and returns the whole response. */
    protected HttpResponse<byte[]> send(String method, String path, String... headers) {
        return TestHttp.send(method, url(path), headers);
    }

    /** GET with header name/value pairs. */
    protected HttpResponse<byte[]> get(String path, String... headers) {
        return send("GET", path, headers);
    }

    /**
     * Sends {@code requestHead} (request line and headers, without the final empty line) byte for
     * byte over a plain socket, so paths reach the server exactly as written (no client
     * normalisation), and returns everything the server sent until it closed the connection.
     */
    protected String rawExchange(String requestHead) {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write((requestHead + "\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = socket.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
