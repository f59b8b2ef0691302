package dev.branchboot.server.boot;

import dev.branchboot.server.testing.TestHttp;
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
 * An origin server on a random port of 127.0.0.1 with boot profiles, shared by the boot tests (one
 * Spring context for all of them). Its images folder, {@code target/boot-test/images}, holds a root
 * image {@code lab.qcow2}, a kernel {@code boot/vmlinuz-1} with {@code boot/vmlinuz} a symlink to it
 * (a revisioned name, as a publisher repoints it) and an initramfs {@code boot/initrd.img}, all
 * seeded random bytes. Profiles: {@code lab} (those files, with kernel arguments) and
 * {@code kiosk} (no arguments; the default profile). Machine {@code 52:54:00:12:34:56} boots
 * {@code lab}, written in each of the three key forms across three machines.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {"server.address=127.0.0.1",
        "spring.main.banner-mode=off"})
abstract class BootFixture {
    static final Path BASE = Path.of("target", "boot-test").toAbsolutePath();
    static final Path IMAGES = BASE.resolve("images");
    static final byte[] KERNEL = seeded(1, 300_000);
    static final byte[] KERNEL_2 = seeded(2, 310_000);
    static final byte[] INITRD = seeded(3, 700_001);
    static final byte[] ROOT_IMAGE = seeded(4, 65_536);
    static final String LAB_CMDLINE = "root=/dev/nbd0p1 ip=dhcp console=ttyS0,115200n8 branchboot.cow=ram:512M quiet";

    static {
        try {
            if (Files.exists(BASE)) {
                try (Stream<Path> walk = Files.walk(BASE)) {
                    for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                        Files.delete(p);
                    }
                }
            }
            Files.createDirectories(IMAGES.resolve("boot"));
            Files.write(IMAGES.resolve("lab.qcow2"), ROOT_IMAGE);
            Files.write(IMAGES.resolve("boot/vmlinuz-1"), KERNEL);
            Files.createSymbolicLink(IMAGES.resolve("boot/vmlinuz"), Path.of("vmlinuz-1"));
            Files.write(IMAGES.resolve("boot/initrd.img"), INITRD);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @DynamicPropertySource
    static void settings(DynamicPropertyRegistry registry) {
        registry.add("branchboot.images-dir", IMAGES::toString);
        profileSettings("").forEach(setting -> registry.add(setting[0], () -> setting[1]));
        registry.add("branchboot.boot.default-profile", () -> "kiosk");
        registry.add("branchboot.boot.machines[52:54:00:12:34:56]", () -> "lab");
        registry.add("branchboot.boot.machines.52-54-00-AB-CD-EF", () -> "kiosk");
        registry.add("branchboot.boot.machines.0200000000fe", () -> "lab");
    }

    /** The settings of profiles lab and kiosk as name/value pairs, each name after {@code prefix}. */
    static java.util.List<String[]> profileSettings(String prefix) {
        String p = prefix + "branchboot.boot.profiles.";
        return java.util.List.of(new String[] {p + "lab.image", "lab.qcow2"}, new String[] {p + "lab.kernel", "boot/vmlinuz"},
                new String[] {p + "lab.initrd", "boot/initrd.img"}, new String[] {p + "lab.cmdline", LAB_CMDLINE},
                new String[] {p + "kiosk.image", "kiosk.qcow2"}, new String[] {p + "kiosk.kernel", "boot/vmlinuz-1"},
                new String[] {p + "kiosk.initrd", "boot/initrd.img"});
    }

    @LocalServerPort
    int port;

    /** The origin's base URL. */
    String origin() {
        return "http://127.0.0.1:" + port;
    }

    HttpResponse<byte[]> get(String path, String... headers) {
        return TestHttp.send("GET", URI.create(origin() + path), headers);
    }

    static String body(HttpResponse<byte[]> response) {
        return new String(response.body(), StandardCharsets.UTF_8);
    }

    /**
     * Sends {@code requestHead} (request line and headers, without the final empty line) byte for byte
     * over a plain socket, so a Host header reaches the server exactly as written, and returns
     * everything the server sent until it closed the connection.
     */
    static String rawExchange(int port, String requestHead) {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write((requestHead + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = socket.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] seeded(long seed, int length) {
        byte[] bytes = new byte[length];
        new Random(20261204L + seed).nextBytes(bytes);
        return bytes;
    }
}
