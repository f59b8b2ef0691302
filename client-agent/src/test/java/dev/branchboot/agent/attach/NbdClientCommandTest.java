package dev.branchboot.agent.attach;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.AgentMain;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class NbdClientCommandTest {

    private static NbdClientCommand command(int blockSize, Duration timeout, int connections, boolean ioctl) {
        return new NbdClientCommand("/sbin/nbd-client", Path.of("/run/branchboot/nbd0.sock"), NbdDevice.parse("/dev/nbd0"),
                "debian.qcow2", blockSize, timeout, connections, ioctl);
    }

    @Test
    void rootDiskCommandLineUsesTheUnixSocketExportNameBlockSizeTimeoutAndSystemdMark() {
        assertEquals(List.of("/sbin/nbd-client", "-unix", "/run/branchboot/nbd0.sock", "/dev/nbd0", "-N", "debian.qcow2",
                        "-b", "512", "-t", "360", "-systemd-mark"),
                command(512, Duration.ofSeconds(360), 1, false).connect());
    }

    @Test
    void ioctlModeAddsNonetlinkAndPersistAndConnectionsAddC() {
        assertEquals(List.of("/sbin/nbd-client", "-unix", "/run/branchboot/nbd0.sock", "/dev/nbd0", "-N", "debian.qcow2",
                        "-b", "512", "-C", "4", "-nonetlink", "-persist", "-systemd-mark"),
                command(512, Duration.ZERO, 4, true).connect());
    }

    @Test
    void fractionalTimeoutRoundsUp() {
        assertTrue(command(4096, Duration.ofMillis(1500), 1, false).connect().containsAll(List.of("-t", "2")));
    }

    @Test
    void rootDiskTimeoutOutlastsTheAgentsRetries() {
        assertEquals(Duration.ofSeconds(360), NbdClientCommand.rootDiskTimeout(Duration.ofMinutes(5), Duration.ofSeconds(30)));
        assertEquals(Duration.ofSeconds(41), NbdClientCommand.rootDiskTimeout(Duration.ofMillis(10_500), Duration.ofMillis(100)));
    }

    @Test
    void badBlockSizesAndConnectionsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> command(1000, Duration.ZERO, 1, false));
        assertThrows(IllegalArgumentException.class, () -> command(8192, Duration.ZERO, 1, false));
        assertThrows(IllegalArgumentException.class, () -> command(4096, Duration.ZERO, 0, false));
    }

    @Test
    void disconnect() {
        assertEquals(List.of("nbd-client", "-d", "/dev/nbd3"), NbdClientCommand.disconnect("nbd-client", NbdDevice.parse("nbd3")));
    }

    @Test
    void deviceNamesAndDefaultFiles() {
        NbdDevice device = NbdDevice.parse("/dev/nbd12");
        assertEquals("nbd12", device.name());
        assertEquals(Path.of("/run/branchboot/nbd12.sock"), device.defaultSocket());
        assertEquals(Path.of("/run/branchboot/nbd12.pid"), device.defaultPidFile());
        assertThrows(IllegalArgumentException.class, () -> NbdDevice.parse("/dev/sda"));
        assertThrows(IllegalArgumentException.class, () -> NbdDevice.parse("/dev/nbd"));
    }

    private static int run(ByteArrayOutputStream err, String... args) {
        return AgentMain.run(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), args);
    }

    @Test
    void usageErrorsExitTwoAndNameTheProblem() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(2, run(err, "attach", "--image", "x.qcow2"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("--device"), err::toString);
        err.reset();
        assertEquals(2, run(err, "attach", "--device", "/dev/sda", "--image", "x.qcow2"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("not an NBD device"), err::toString);
        err.reset();
        assertEquals(2, run(err, "attach", "--device", "/dev/nbd0", "--image", "x.qcow2", "--listen", "tcp:127.0.0.1:10809"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("unix:PATH"), err::toString);
        err.reset();
        assertEquals(2, run(err, "attach", "--device", "/dev/nbd0", "--image", "x.qcow2", "--block-size", "1000"));
        err.reset();
        assertEquals(2, run(err, "detach"));
    }

    @Test
    void attachFailsWithTheImageNamedWhenTheExportCannotStart(@org.junit.jupiter.api.io.TempDir Path dir) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = run(err, "attach", "--device", "/dev/nbd15", "--image", dir.resolve("missing.qcow2").toString(),
                "--listen", "unix:" + dir.resolve("s.sock"), "--nbd-client", "/bin/false");
        assertEquals(1, status, err::toString);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("missing.qcow2"), err::toString);
    }

    @Test
    void attachStopsServingAndFailsWhenNbdClientFails(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path image = dir.resolve("raw.img");
        java.nio.file.Files.write(image, new byte[1 << 20]);
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = run(err, "attach", "--device", "/dev/nbd15", "--image", image.toString(), "--format", "raw",
                "--listen", "unix:" + dir.resolve("s.sock"), "--pid-file", dir.resolve("pid").toString(), "--nbd-client", "/bin/false");
        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(1, status, text);
        assertTrue(text.contains("/dev/nbd15 (image " + image + "): /bin/false exited with status 1"), text);
        assertTrue(!java.nio.file.Files.exists(dir.resolve("s.sock")), "socket removed");
        assertTrue(!java.nio.file.Files.exists(dir.resolve("pid")), "no pid file");
    }

    @Test
    void attachRunsNbdClientWith512ByteBlocksUnlessToldOtherwise(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path image = dir.resolve("raw.img");
        java.nio.file.Files.write(image, new byte[1 << 20]);
        Path recorded = dir.resolve("argv");
        Path fakeNbdClient = failingNbdClient(dir, "echo \"$@\" >> " + recorded);
        for (String[] extra : new String[][] {{}, {"--block-size", "4096"}}) {
            List<String> argv = new java.util.ArrayList<>(List.of("attach", "--device", "/dev/nbd15", "--image", image.toString(),
                    "--format", "raw", "--listen", "unix:" + dir.resolve("s.sock"), "--pid-file", dir.resolve("pid").toString(),
                    "--nbd-client", fakeNbdClient.toString()));
            argv.addAll(List.of(extra));
            assertEquals(1, run(new ByteArrayOutputStream(), argv.toArray(String[]::new)));
        }
        List<String> lines = java.nio.file.Files.readAllLines(recorded);
        assertEquals(2, lines.size(), lines::toString);
        assertTrue(lines.get(0).contains(" -b 512 "), lines.get(0));
        assertTrue(lines.get(1).contains(" -b 4096 "), lines.get(1));
    }

    @Test
    void withStartWhenNothingIsOpenedOrServedUntilTheFileAppears(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path image = dir.resolve("raw.img");
        java.nio.file.Files.write(image, new byte[1 << 20]);
        Path go = dir.resolve("network-up");
        Path recorded = dir.resolve("ran");
        Path fakeNbdClient = failingNbdClient(dir, "touch " + recorded);
        java.util.concurrent.CompletableFuture<Integer> attach = java.util.concurrent.CompletableFuture.supplyAsync(() ->
                run(new ByteArrayOutputStream(), "attach", "--device", "/dev/nbd15", "--image", image.toString(), "--format", "raw",
                        "--listen", "unix:" + dir.resolve("s.sock"), "--pid-file", dir.resolve("pid").toString(),
                        "--nbd-client", fakeNbdClient.toString(), "--start-when", go.toString()));
        // the agent waits: no export, no nbd-client, for as long as the file is missing
        org.awaitility.Awaitility.await().during(java.time.Duration.ofMillis(500)).atMost(java.time.Duration.ofSeconds(5))
                .until(() -> !attach.isDone() && !java.nio.file.Files.exists(dir.resolve("s.sock"))
                        && !java.nio.file.Files.exists(recorded));
        java.nio.file.Files.createFile(go);
        assertEquals(1, attach.get(30, java.util.concurrent.TimeUnit.SECONDS), "the fake nbd-client fails once it runs");
        assertTrue(java.nio.file.Files.exists(recorded), "nbd-client ran after the file appeared");
    }

    @Test
    void withStartWhenABadServeOptionFailsWithoutWaitingForTheFile(@org.junit.jupiter.api.io.TempDir Path dir) {
        Path never = dir.resolve("never-appears");
        for (String[] bad : new String[][] {{"--trust-key", dir.resolve("missing.pem").toString()}, {"--cow", "disk:1G"}}) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            List<String> argv = new java.util.ArrayList<>(List.of("attach", "--device", "/dev/nbd15", "--server", "http://127.0.0.1:9/",
                    "--image", "win11.qcow2", "--listen", "unix:" + dir.resolve("s.sock"), "--start-when", never.toString()));
            argv.addAll(List.of(bad));
            // the wait would last 10 minutes: returning at all means the option was checked first
            int status = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(30),
                    () -> run(err, argv.toArray(String[]::new)));
            assertEquals(2, status, err::toString);
            assertTrue(err.toString(StandardCharsets.UTF_8).contains(bad[0]), err::toString);
        }
    }

    /** An nbd-client stand-in that runs {@code command} (to leave a trace), then fails with status 1. */
    private static Path failingNbdClient(Path dir, String command) throws java.io.IOException {
        Path program = dir.resolve("fake-nbd-client");
        java.nio.file.Files.writeString(program, "#!/bin/sh\n" + command + "\nexit 1\n");
        program.toFile().setExecutable(true);
        return program;
    }
}
