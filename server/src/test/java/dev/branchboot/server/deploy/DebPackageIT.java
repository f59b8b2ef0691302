package dev.branchboot.server.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.TestHttp;
import dev.branchboot.testkit.Nginx;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code target/branchboot-server.deb} (built by {@code mvn package} with jdeb from src/deb):
 * its files, conffiles and maintainer scripts as {@code dpkg-deb} shows them; its unit accepted by
 * {@code systemd-analyze verify} and hardened; and installed by {@code dpkg --root} into a scratch
 * root (maintainer scripts run with DPKG_ROOT) where the postinst made the system user and the
 * cache folder, and where the unit's own ExecStart line, run as systemd would (its Environment=,
 * EnvironmentFile=, CACHE_DIRECTORY and CONFIGURATION_DIRECTORY, as its User=, the package's
 * paths inside the scratch root), brings up a branch cache whose ExecStartPost readiness wait
 * returns and which serves an image exactly from its cache folder.
 */
class DebPackageIT {
    private static final Path DEB = DeployFiles.repository().resolve("server/target/branchboot-server.deb");
    private static final String UNIT = "lib/systemd/system/branchboot-server.service";

    @TempDir
    Path dir;

    @Test
    void packageHoldsTheServerItsUnitConffilesAndScripts() throws Exception {
        String contents = run(List.of("dpkg-deb", "--contents", DEB.toString()));
        for (String expected : List.of("-rw-r--r-- root/root .* ./usr/share/branchboot/branchboot-server.jar",
                "-rw-r--r-- root/root .* ./etc/branchboot/application.properties",
                "-rw------- root/root .* ./etc/default/branchboot-server",
                "-rw-r--r-- root/root .* ./" + UNIT,
                "-rw-r--r-- root/root .* ./usr/lib/sysusers.d/branchboot-server.conf",
                "-rw-r--r-- root/root .* ./usr/lib/tmpfiles.d/branchboot-server.conf")) {
            assertTrue(contents.lines().anyMatch(line -> line.matches(expected.replace(".*", "\\s+\\d+ [-0-9]+ [0-9:]+"))),
                    expected + " in:\n" + contents);
        }
        String info = run(List.of("dpkg-deb", "--info", DEB.toString()));
        for (String script : List.of("postinst", "prerm", "postrm")) {
            assertTrue(info.lines().anyMatch(line -> line.matches("\\s+\\d+ bytes,\\s+\\d+ lines\\s+\\*\\s+" + script + "\\s+#!/bin/sh")),
                    script + " is an executable shell script: " + info);
        }
        assertTrue(run(List.of("dpkg-deb", "--field", DEB.toString(), "Depends")).contains("openjdk-17-jre-headless"), "depends on Java 17");
        Path control = dir.resolve("control");
        run(List.of("dpkg-deb", "--control", DEB.toString(), control.toString()));
        assertEquals(List.of("/etc/branchboot/application.properties", "/etc/default/branchboot-server"),
                Files.readAllLines(control.resolve("conffiles")).stream().map(String::strip).filter(l -> !l.isEmpty()).sorted().toList(),
                "both configuration files are conffiles (kept on upgrade)");
        assertTrue(Files.readString(control.resolve("postinst")).contains("systemd-sysusers"), "postinst creates the system user");
    }

    @Test
    void unitPassesSystemdAnalyzeVerifyAndIsHardened() throws Exception {
        Path extracted = dir.resolve("extracted");
        run(List.of("dpkg-deb", "--extract", DEB.toString(), extracted.toString()));
        Path unitFile = extracted.resolve(UNIT);
        String verify = run(List.of("systemd-analyze", "verify", unitFile.toString()));
        assertEquals("", verify.strip(), "systemd-analyze verify has nothing to say");
        SystemdUnit unit = SystemdUnit.read(unitFile);
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("User", "branchboot");
        expected.put("ProtectSystem", "strict");
        expected.put("NoNewPrivileges", "yes");
        expected.put("ReadWritePaths", "/var/cache/branchboot");
        expected.put("CacheDirectory", "branchboot");
        expected.put("Restart", "on-failure");
        expected.put("ProtectHome", "yes");
        expected.put("PrivateTmp", "yes");
        expected.put("CapabilityBoundingSet", "");
        expected.forEach((key, value) -> assertEquals(value, unit.value(key), "[Service] " + key));
        assertTrue(unit.value("ExecStartPost").contains("/actuator/health/readiness"), "the start waits for readiness");
    }

    @Test
    void installedIntoAScratchRootTheUnitsExecStartRunsAHealthyBranch() throws Exception {
        // A scratch root dpkg can install into; readable by the service's user, as / would be.
        Path root = dir.resolve("root");
        Files.createDirectories(root.resolve("var/lib/dpkg/info"));
        Files.createDirectories(root.resolve("var/lib/dpkg/updates"));
        Files.createDirectories(root.resolve("etc"));
        Files.writeString(root.resolve("var/lib/dpkg/status"), "");
        Files.writeString(root.resolve("var/lib/dpkg/available"), "");
        Files.writeString(root.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        Files.writeString(root.resolve("etc/group"), "root:x:0:\n");
        openForOthers(dir);
        String installed = run(List.of("dpkg", "--root=" + root, "--force-script-chrootless", "--force-depends", "--install", DEB.toString()));
        assertTrue(installed.contains("Setting up branchboot-server"), installed);
        assertTrue(run(List.of("dpkg-query", "--admindir=" + root.resolve("var/lib/dpkg"), "--show", "--showformat=${Status}",
                "branchboot-server")).contains("install ok installed"));

        String user = Files.readAllLines(root.resolve("etc/passwd")).stream().filter(line -> line.startsWith("branchboot:")).findFirst()
                .orElseThrow(() -> new AssertionError("postinst made the user branchboot"));
        String[] fields = user.split(":");
        int uid = Integer.parseInt(fields[2]);
        assertTrue(uid > 0 && uid < 1000, "a system user: " + user);
        Path cache = root.resolve("var/cache/branchboot");
        assertEquals(uid, (Integer) Files.getAttribute(cache, "unix:uid"), "the cache folder belongs to the user");
        assertEquals("rwxr-x---", PosixFilePermissions.toString(Files.getPosixFilePermissions(cache)));

        // What an admin does: a branch cache of a folder upstream, on a free port of 127.0.0.1.
        Path images = Files.createDirectories(dir.resolve("images"));
        byte[] disk = new byte[3 << 20];
        new Random(7).nextBytes(disk);
        Files.write(images.resolve("disk.raw"), disk);
        openForOthers(images);
        int port = Nginx.freePort();
        Files.writeString(root.resolve("etc/branchboot/application.properties"),
                "\nbranchboot.upstreams=file:" + images + "\nserver.address=127.0.0.1\n", java.nio.file.StandardOpenOption.APPEND);
        Path defaults = root.resolve("etc/default/branchboot-server");
        Files.writeString(defaults, Files.readString(defaults).replace("SERVER_PORT=8080", "SERVER_PORT=" + port));

        // The environment systemd gives the service.
        SystemdUnit unit = SystemdUnit.read(root.resolve(UNIT));
        Map<String, String> env = new LinkedHashMap<>(unit.environment());
        String environmentFile = unit.value("EnvironmentFile");
        env.putAll(SystemdUnit.environmentFile(ServerImage.under(root, environmentFile.replaceFirst("^-", ""))));
        env.put("CACHE_DIRECTORY", root.resolve("var/cache").resolve(unit.value("CacheDirectory")).toString());
        env.put("CONFIGURATION_DIRECTORY", root.resolve("etc").resolve(unit.value("ConfigurationDirectory")).toString());
        env.put("PATH", System.getenv("PATH"));
        List<String> execStart = inRoot(SystemdUnit.command(unit.value("ExecStart"), env), root);
        assertTrue(execStart.get(0).equals("/usr/bin/java") && execStart.contains(root + "/usr/share/branchboot/branchboot-server.jar"), execStart.toString());

        Path log = dir.resolve("server.log");
        Process server = start(asUser(uid, Integer.parseInt(fields[3]), execStart), env, root, log);
        try {
            List<String> startPost = SystemdUnit.command(unit.value("ExecStartPost"), env);
            Process wait = start(List.of("timeout", "120", "sh", "-c", startPost.get(2)), env, root, dir.resolve("wait.log"));
            assertTrue(wait.waitFor(3, TimeUnit.MINUTES), "the readiness wait ended");
            assertEquals(0, wait.exitValue(), "ExecStartPost's readiness wait succeeded: " + Files.readString(dir.resolve("wait.log"))
                    + "\n" + Files.readString(log));
            assertTrue(server.isAlive(), Files.readString(log));
            assertArrayEquals(disk, TestHttp.send("GET", URI.create("http://127.0.0.1:" + port + "/images/disk.raw")).body());
            try (Stream<Path> files = Files.walk(cache)) {
                List<Path> all = files.toList();
                assertTrue(all.size() > 1, "the branch caches in the package's cache folder: " + all);
                for (Path file : all) {
                    assertEquals(uid, (Integer) Files.getAttribute(file, "unix:uid"), "written as the service's user: " + file);
                }
            }
        } finally {
            ServerImage.stop(server);
        }
    }

    /** Absolute paths of the command that are files of the scratch root, as paths inside it (the jar); others (java) as they are. */
    private static List<String> inRoot(List<String> command, Path root) {
        List<String> result = new ArrayList<>();
        for (String word : command) {
            boolean packaged = word.startsWith("/") && !word.startsWith(root.toString()) && Files.exists(ServerImage.under(root, word));
            result.add(packaged ? ServerImage.under(root, word).toString() : word);
        }
        return result;
    }

    /** The command run as {@code uid}:{@code gid} with no other groups and no new privileges, as User= and NoNewPrivileges= do. */
    private static List<String> asUser(int uid, int gid, List<String> command) {
        List<String> line = new ArrayList<>(List.of("setpriv", "--reuid=" + uid, "--regid=" + gid, "--clear-groups", "--no-new-privs"));
        line.addAll(command);
        return line;
    }

    private static Process start(List<String> command, Map<String, String> env, Path workdir, Path log) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command).directory(workdir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().clear();
        builder.environment().putAll(env);
        return builder.start();
    }

    /** Lets other users traverse {@code folder} and read what is in it (a @TempDir is private to its owner). */
    private static void openForOthers(Path folder) throws IOException {
        for (Path path = folder; path != null && path.startsWith(Path.of(System.getProperty("java.io.tmpdir"))); path = path.getParent()) {
            if (!path.equals(Path.of(System.getProperty("java.io.tmpdir")))) {
                Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(Files.isDirectory(path) ? "rwxr-xr-x" : "rw-r--r--"));
            }
        }
        try (Stream<Path> walk = Files.list(folder)) {
            for (Path file : walk.toList()) {
                if (Files.isRegularFile(file)) {
                    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
                }
            }
        }
    }

    private String run(List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(2, TimeUnit.MINUTES), command + " finished");
        assertEquals(0, process.exitValue(), command + ":\n" + output);
        return output;
    }
}
