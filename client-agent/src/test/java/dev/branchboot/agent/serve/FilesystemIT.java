package dev.branchboot.agent.serve;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.testing.Waits;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A filesystem mounted from the export. These machines have no kernel nbd module, but FUSE works:
 * {@code nbdfuse} turns the export into a file and {@code fuse2fs} mounts the ext4 inside it, read
 * and write (writes land in the overlay, never in the image). Where {@code /dev/nbd0} and
 * {@code nbd-client} exist, the kernel client is tested too.
 */
class FilesystemIT {
    @TempDir
    Path dir;

    /** An ext4 image made by mkfs.ext4 -d from a tree of files, compressed into QCOW2. */
    Path makeImage(Path tree) throws Exception {
        Files.createDirectories(tree.resolve("etc/sub"));
        Random r = new Random(9);
        byte[] big = new byte[5_000_000];
        r.nextBytes(big);
        Files.write(tree.resolve("big.bin"), big);
        Files.writeString(tree.resolve("etc/hostname"), "lab-pc-17\n");
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 50_000; i++) {
            text.append("line ").append(i).append('\n');
        }
        Files.writeString(tree.resolve("etc/sub/lines.txt"), text);
        Path raw = dir.resolve("fs.raw");
        Tools.run(dir, "mkfs.ext4", "-q", "-b", "4096", "-d", tree.toString(), raw.toString(), "48M");
        Path image = dir.resolve("fs.qcow2");
        Tools.run(dir, "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw.toString(), image.toString());
        return image;
    }

    static void assertSameTree(Path expected, Path actual) throws IOException {
        for (String name : List.of("big.bin", "etc/hostname", "etc/sub/lines.txt")) {
            assertArrayEquals(Files.readAllBytes(expected.resolve(name)), Files.readAllBytes(actual.resolve(name)), name);
        }
    }

    @Test
    void ext4MountedThroughNbdfuseAndFuse2fsReadsBackAndWritesStayInTheOverlay() throws Exception {
        Assumptions.assumeTrue(Files.exists(Path.of("/dev/fuse")), "FUSE is not available");
        Path tree = dir.resolve("tree");
        Path image = makeImage(tree);
        byte[] imageHash = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(image));
        Path nbdMount = Files.createDirectories(dir.resolve("nbd"));
        Path fsMount = Files.createDirectories(dir.resolve("fs"));
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), "--image", image.toString(),
                "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "ram:256M")) {
            Process nbdfuse = new ProcessBuilder("nbdfuse", nbdMount.resolve("disk").toString(), agent.uri(""))
                    .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(dir.resolve("nbdfuse.log").toFile()).start();
            try {
                Path disk = nbdMount.resolve("disk");
                Waits.untilReady("nbdfuse to show the export as " + disk, nbdfuse, dir.resolve("nbdfuse.log"), Duration.ofMinutes(2),
                        Duration.ofMillis(50), () -> Files.exists(disk));
                Process fuse2fs = mountExt4("fakeroot", disk, fsMount);
                try {
                    assertSameTree(tree, fsMount);
                    Files.writeString(fsMount.resolve("etc/written-by-test"), "changed on the PC\n");
                    Tools.run(dir, "sync", "-f", fsMount.resolve("etc").toString());
                    assertEquals("changed on the PC\n", Files.readString(fsMount.resolve("etc/written-by-test")));
                } finally {
                    unmount(fsMount, fuse2fs);
                }
                // Mounted again: the change is there, read back from the overlay.
                fuse2fs = mountExt4("ro,fakeroot", disk, fsMount);
                try {
                    assertEquals("changed on the PC\n", Files.readString(fsMount.resolve("etc/written-by-test"), StandardCharsets.UTF_8));
                    assertSameTree(tree, fsMount);
                } finally {
                    unmount(fsMount, fuse2fs);
                }
            } finally {
                unmount(nbdMount);
                if (!nbdfuse.waitFor(60, TimeUnit.SECONDS)) {
                    nbdfuse.destroyForcibly();
                }
            }
            assertEquals(0, agent.terminate(), agent.log());
        }
        assertArrayEquals(imageHash, MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(image)), "image modified");
    }

    @Test
    void kernelClientWhereTheNbdModuleExists() throws Exception {
        Assumptions.assumeTrue(Files.exists(Path.of("/dev/nbd0")) && onPath("nbd-client"), "no kernel nbd module or nbd-client here");
        Path tree = dir.resolve("tree");
        Path image = makeImage(tree);
        Path mount = Files.createDirectories(dir.resolve("mnt"));
        try (AgentProcess agent = AgentProcess.start(dir, List.of(), "--image", image.toString(),
                "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "ram:256M")) {
            Tools.run(dir, "nbd-client", "-u", dir.resolve("nbd.sock").toString(), "/dev/nbd0", "-N", "fs.qcow2", "-b", "512");
            try {
                Tools.run(dir, "mount", "/dev/nbd0", mount.toString());
                try {
                    assertSameTree(tree, mount);
                    Files.writeString(mount.resolve("etc/kernel-write"), "x\n");
                    Tools.run(dir, "sync");
                } finally {
                    Tools.run(dir, "umount", mount.toString());
                }
            } finally {
                Tools.run(dir, "nbd-client", "-d", "/dev/nbd0");
            }
            assertEquals(0, agent.terminate(), agent.log());
        }
    }

    private static boolean onPath(String tool) {
        for (String p : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(p, tool))) {
                return true;
            }
        }
        return false;
    }

    /**
     * fuse2fs in the foreground, as a child of the test, once the filesystem is mounted. A daemon
     * would write the superblock on unmount after fusermount3 has returned, racing the next mount
     * (which then saw a superblock whose checksum was not written yet).
     */
    private Process mountExt4(String options, Path disk, Path mountPoint) throws Exception {
        Process p = new ProcessBuilder("fuse2fs", "-f", "-o", options, disk.toString(), mountPoint.toString()).directory(dir.toFile())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("fuse2fs.log").toFile())).start();
        Waits.untilReady("fuse2fs to mount " + mountPoint, p, dir.resolve("fuse2fs.log"), Duration.ofMinutes(1), Duration.ofMillis(50),
                () -> Files.readString(Path.of("/proc/self/mounts")).contains(" " + mountPoint + " "));
        return p;
    }

    /**
     * fusermount3 -u, retried while the mount is still busy, then waits for the FUSE daemon the
     * test started to finish writing and exit.
     */
    private void unmount(Path mountPoint, Process daemon) throws Exception {
        unmount(mountPoint);
        assertTrue(daemon.waitFor(60, TimeUnit.SECONDS), "fuse2fs exits after the unmount");
        assertEquals(0, daemon.exitValue(), Files.readString(dir.resolve("fuse2fs.log")));
    }

    /**
     * fusermount3 -u, retried while the mount is still busy (a FUSE daemon finishing its exit);
     * given up after 30 s with fusermount3's last complaint as the cause.
     */
    private void unmount(Path mountPoint) {
        await("fusermount3 -u " + mountPoint + " to succeed").atMost(Duration.ofSeconds(30)).pollDelay(Duration.ZERO)
                .pollInterval(Duration.ofMillis(100)).ignoreException(IOException.class).until(() -> {
                    try {
                        Tools.run(dir, "fusermount3", "-u", mountPoint.toString());
                    } catch (IOException e) {
                        if (!e.getMessage().contains("not found in") && !e.getMessage().contains("not mounted")) {
                            throw e; // busy: try again
                        }
                    }
                    return true;
                });
    }
}
