package dev.branchboot.agent.manifest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.AgentMain;
import dev.branchboot.agent.serve.AgentProcess;
import dev.branchboot.agent.serve.Tools;
import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import dev.branchboot.testkit.Nginx;
import dev.branchboot.testkit.PublisherKeys;
import dev.branchboot.testkit.TamperingProxy;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent with a trust key, between a real nginx and {@code nbdcopy}, behind a proxy that keeps
 * every header right and lies in the bodies: the agent returns no wrong byte (the read fails at
 * the deadline, or goes to an honest second server and then equals {@code qemu-img convert}), and
 * a manifest that is signed by another key, truncated, made for another file or missing is
 * refused at open, naming the image. Without a key the same proxy's lies reach the client: the
 * control that shows the tampering is real.
 */
class SignedImageIT {
    @TempDir
    Path dir;
    private Path images;
    private TestImage image;
    private Nginx nginx;
    private PublisherKeys keys;
    private PublisherKeys otherKeys;
    private final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeEach
    void publish() throws Exception {
        image = ConformanceImages.named("zlib-64k");
        images = Files.createDirectories(dir.resolve("images"));
        Files.copy(image.image(), images.resolve("disk.qcow2"));
        // Another revision of the same length: what a lying cache could send under disk.qcow2's headers.
        byte[] other = Files.readAllBytes(image.image());
        for (int i = 70_000; i < other.length; i += 4096) {
            other[i] ^= 0x5a;
        }
        Files.write(images.resolve("disk@old.qcow2"), other);
        keys = PublisherKeys.make(dir, "publisher");
        otherKeys = PublisherKeys.make(dir, "other");
        assertEquals(0, agent("manifest", images.resolve("disk.qcow2").toString(), "--sign-key", keys.privateKey().toString()));
        nginx = Nginx.start(dir.resolve("nginx"), images);
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closing) {
            c.close();
        }
        nginx.close();
    }

    private static int agent(String... args) {
        return AgentMain.run(new PrintStream(new ByteArrayOutputStream()), new PrintStream(new ByteArrayOutputStream()), args);
    }

    private TamperingProxy proxy(TamperingProxy.Mode mode) throws Exception {
        TamperingProxy proxy = new TamperingProxy(nginx.rootUrl(), mode);
        proxy.otherRevision("/images/disk@old.qcow2");
        closing.add(proxy);
        return proxy;
    }

    private AgentProcess serve(List<String> servers, String... more) throws Exception {
        List<String> args = new ArrayList<>();
        for (String server : servers) {
            args.add("--server");
            args.add(server);
        }
        args.addAll(List.of("--image", "disk.qcow2", "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "none",
                "--cache-size", "0", "--read-ahead", "0"));
        args.addAll(List.of(more));
        return AgentProcess.start(dir, AgentProcess.QUICK_JVM, args.toArray(String[]::new));
    }

    /** nbdcopy of the export; its exit status. */
    private int copy(AgentProcess agent, Path to) throws Exception {
        Process p = new ProcessBuilder("nbdcopy", agent.uri(""), to.toString()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("nbdcopy.log").toFile()).start();
        return p.waitFor();
    }

    @Test
    void lyingBodiesNeverReachTheClientAndAnHonestServerIsUsedInstead() throws Exception {
        String key = keys.publicKey().toString();
        for (TamperingProxy.Mode mode : new TamperingProxy.Mode[] {TamperingProxy.Mode.FLIP, TamperingProxy.Mode.OTHER_REVISION}) {
            TamperingProxy liar = proxy(mode);
            // Only the liar, lying from the start: the image's header does not verify, the agent
            // refuses to start at the deadline and names the mismatch.
            AgentProcess.Result refused = AgentProcess.runToExit(dir, AgentProcess.QUICK_JVM, "--server", liar.imagesUrl(),
                    "--image", "disk.qcow2", "--listen", "unix:" + dir.resolve("refused.sock"), "--cow", "none",
                    "--trust-key", key, "--retry-deadline", "2s");
            assertEquals(1, refused.exitCode(), refused.output());
            assertTrue(refused.output().contains("do not match the signed manifest"), refused.output());
            // Only the liar, honest while the agent opens the image and lying after: every read
            // fails at the deadline, no wrong byte is returned.
            liar.mode(TamperingProxy.Mode.HONEST);
            Path copy = dir.resolve("copy-" + mode + ".raw");
            try (AgentProcess agent = serve(List.of(liar.imagesUrl()), "--trust-key", key, "--retry-deadline", "2s")) {
                liar.mode(mode);
                assertNotEquals(0, copy(agent, copy), mode + ": nbdcopy must fail rather than get unsigned bytes");
                agent.terminate();
                assertTrue(agent.log().contains("do not match the signed manifest"), agent.log());
            }
            assertTrue(liar.tamperedBodies() > 0, "the proxy lied");
            // The liar first, an honest server second: the reads go to the honest one, every byte right.
            Path good = dir.resolve("good-" + mode + ".raw");
            try (AgentProcess agent = serve(List.of(liar.imagesUrl(), nginx.imagesUrl()), "--trust-key", key)) {
                assertEquals(0, copy(agent, good), Files.readString(dir.resolve("nbdcopy.log")) + agent.log());
                assertEquals(-1, ByteComparison.firstDifference(image.reference(), good), mode + ": bytes differ at this offset");
                assertEquals(0, agent.terminate(), agent.log());
            }
        }
    }

    @Test
    void withoutAKeyTheLiesGetThrough() throws Exception {
        TamperingProxy liar = proxy(TamperingProxy.Mode.FLIP);
        Path copy = dir.resolve("copy.raw");
        try (AgentProcess agent = serve(List.of(liar.imagesUrl()))) {
            copy(agent, copy);
            agent.terminate();
        }
        // Either the image's decoder choked on a flipped compressed cluster or wrong bytes came out:
        // whichever it is, the read was not the image.
        assertTrue(!Files.exists(copy) || ByteComparison.firstDifference(image.reference(), copy) != -1,
                "flipped bodies without a trust key must show (else this test shows nothing)");
    }

    @Test
    void aManifestThatCannotBeTrustedIsRefusedAtOpenNamingTheImage() throws Exception {
        Path manifest = images.resolve("disk.qcow2.manifest");
        byte[] good = Files.readAllBytes(manifest);
        String key = keys.publicKey().toString();
        // Signed by another key.
        assertEquals(0, agent("manifest", images.resolve("disk.qcow2").toString(), "--sign-key",
                otherKeys.privateKey().toString()));
        assertRefused(key, "signature");
        // Truncated.
        Files.write(manifest, java.util.Arrays.copyOf(good, 100));
        assertRefused(key, "truncated");
        // Made for another file.
        Files.copy(images.resolve("disk@old.qcow2"), dir.resolve("other.qcow2"));
        Files.write(dir.resolve("other.qcow2"), java.util.Arrays.copyOf(Files.readAllBytes(dir.resolve("other.qcow2")), 50_000));
        assertEquals(0, agent("manifest", dir.resolve("other.qcow2").toString(), "--sign-key", keys.privateKey().toString()));
        Files.copy(dir.resolve("other.qcow2.manifest"), manifest, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertRefused(key, "describes a file of 50000 bytes");
        // Missing.
        Files.delete(manifest);
        assertRefused(key, "no manifest");
    }

    @Test
    void anotherImagesManifestUnderThisNameIsRefused() throws Exception {
        Files.copy(images.resolve("disk.qcow2"), dir.resolve("kiosk.qcow2"));
        assertEquals(0, agent("manifest", dir.resolve("kiosk.qcow2").toString(), "--sign-key", keys.privateKey().toString()));
        Files.copy(dir.resolve("kiosk.qcow2.manifest"), images.resolve("disk.qcow2.manifest"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertRefused(keys.publicKey().toString(), "signed for image 'kiosk.qcow2'");
    }

    @Test
    void withATrustStateAnOlderRevisionIsRefusedByALaterRun() throws Exception {
        Path disk = images.resolve("disk.qcow2");
        Path state = dir.resolve("state/trust-state");
        String[] info = {"info", "--server", nginx.imagesUrl(), "--image", "disk.qcow2", "--trust-key",
                keys.publicKey().toString(), "--trust-state", state.toString(), "--retry-deadline", "2s"};
        assertEquals(0, agent(info), "signed now, accepted and remembered");
        assertTrue(Files.readString(state).contains("sha256:"));
        // An older publication of the same name (signed earlier than the one accepted).
        dev.branchboot.integrity.ManifestWriter.write(disk, "disk.qcow2", java.time.Instant.parse("2026-01-01T00:00:00Z"),
                dev.branchboot.integrity.PemKeys.privateKey(keys.privateKey()), null);
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(1, AgentMain.run(new PrintStream(new ByteArrayOutputStream()), new PrintStream(err), info));
        assertTrue(err.toString().contains("rollback") && err.toString().contains("disk.qcow2"), err.toString());
        // Without the memory, the same manifest is taken: the memory is what refuses it.
        assertEquals(0, agent(java.util.Arrays.copyOf(info, info.length - 4)));
        assertEquals(2, agent("info", "--server", nginx.imagesUrl(), "--image", "disk.qcow2", "--trust-state",
                state.toString()), "--trust-state without --trust-key is bad usage");
    }

    @Test
    void aBareFileNameInTheCurrentFolderIsSigned() throws Exception {
        Path copy = Files.copy(images.resolve("disk.qcow2"), dir.resolve("bare@3.qcow2"));
        Process sign = new ProcessBuilder(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", dev.branchboot.agent.serve.AgentProcess.jar().toString(), "manifest", "bare@3.qcow2", "--sign-key",
                keys.privateKey().toString()).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(sign.getInputStream().readAllBytes());
        assertEquals(0, sign.waitFor(), output);
        assertTrue(output.contains("image 'bare.qcow2'") && output.contains("file 'bare@3.qcow2'"), output);
        assertEquals(0, agent("manifest", copy.toString(), "--trust-key", keys.publicKey().toString()));
    }

    private void assertRefused(String key, String because) throws Exception {
        AgentProcess.Result result = AgentProcess.runToExit(dir, AgentProcess.QUICK_JVM, "--server", nginx.imagesUrl(), "--image",
                "disk.qcow2", "--listen", "unix:" + dir.resolve("refused.sock"), "--cow", "none", "--trust-key", key,
                "--retry-deadline", "2s");
        assertEquals(1, result.exitCode(), result.output());
        assertTrue(result.output().contains("disk.qcow2") && result.output().contains(because), result.output());
    }

    @Test
    void theManifestCommandChecksAFileAgainstItsManifest() throws Exception {
        Path file = images.resolve("disk.qcow2");
        String key = keys.publicKey().toString();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(0, AgentMain.run(new PrintStream(out), new PrintStream(err), "manifest", file.toString(), "--trust-key", key),
                err.toString());
        assertTrue(out.toString().contains("every byte matches its signed manifest, sha256:"), out.toString());
        byte[] bytes = Files.readAllBytes(file);
        bytes[123_456] ^= 1;
        Files.write(file, bytes);
        err.reset();
        assertEquals(1, AgentMain.run(new PrintStream(out), new PrintStream(err), "manifest", file.toString(), "--trust-key", key));
        assertTrue(err.toString().contains("bytes 122880..126975 do not match the signed manifest"), err.toString());
        err.reset();
        assertEquals(2, AgentMain.run(new PrintStream(out), new PrintStream(err), "manifest", file.toString()), err.toString());
    }
}
