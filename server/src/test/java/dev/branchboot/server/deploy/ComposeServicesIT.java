package dev.branchboot.server.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.TestHttp;
import dev.branchboot.testkit.Nginx;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;

/**
 * {@code docker-compose.yml} without a container engine: Debian's {@code docker-compose} checks
 * and normalizes it, and each branchboot service of its output runs as a process of the image's
 * entry point (server/Dockerfile, assembled as {@link ServerImage} does) with exactly the
 * environment and command the engine would give it: the image's ENV under the service's
 * {@code environment}. The only rewrites are those the engine's network and volumes would do:
 * container folders become the host folders mounted there (a named volume a temporary folder),
 * {@code http://SERVICE:PORT} becomes 127.0.0.1 and the service's published port, on which the
 * process listens. Each service's healthcheck command must then pass, and an image read through
 * the branch must be byte-exact: every variable, path and port the file names is real.
 */
class ComposeServicesIT {
    @TempDir
    Path dir;

    @Test
    void composeFileIsValidWithItsDefaults() throws Exception {
        String output = compose(Map.of(), "config", "-q");
        assertEquals("", output.strip(), "docker-compose config -q says nothing for a valid file");
    }

    @Test
    void everyVariableOfTheFileIsListedInTheReadme() throws Exception {
        String compose = Files.readString(DeployFiles.repository().resolve("docker-compose.yml"));
        String readme = Files.readString(DeployFiles.repository().resolve("README.md"));
        Matcher variable = Pattern.compile("\\$\\{(\\w+)").matcher(compose);
        List<String> missing = new ArrayList<>();
        while (variable.find()) {
            if (!readme.contains("`" + variable.group(1) + "`")) {
                missing.add(variable.group(1));
            }
        }
        assertEquals(List.of(), missing, "variables of docker-compose.yml that README.md does not list");
    }

    @Test
    @SuppressWarnings("unchecked")
    void servicesRunWithTheirEnvironmentAndServeExactBytes() throws Exception {
        Path images = Files.createDirectories(dir.resolve("images"));
        byte[] disk = new byte[5 << 20];
        new Random(2026).nextBytes(disk);
        Files.write(images.resolve("disk.raw"), disk);
        int originPort = Nginx.freePort();
        int branchPort = Nginx.freePort();
        Map<String, Object> config = new Yaml().load(compose(Map.of("BRANCHBOOT_IMAGES_DIR", images.toString(),
                "BRANCHBOOT_ORIGIN_PORT", Integer.toString(originPort), "BRANCHBOOT_BRANCH_PORT", Integer.toString(branchPort)), "config"));
        Map<String, Map<String, Object>> services = (Map<String, Map<String, Object>>) config.get("services");
        for (Map.Entry<String, Map<String, Object>> service : services.entrySet()) {
            assertTrue(service.getValue().containsKey("healthcheck"), service.getKey() + " has a healthcheck");
        }
        Map<String, Object> branchDependsOn = (Map<String, Object>) services.get("branch").get("depends_on");
        assertEquals(Map.of("condition", "service_healthy"), branchDependsOn.get("origin"), "the branch starts after the origin is healthy");

        ServerImage image = ServerImage.read();
        Path workdir = image.assemble(dir.resolve("image"));
        Map<String, Integer> published = new TreeMap<>();
        Map<String, Process> running = new LinkedHashMap<>();
        try {
            // The origin first: the branch depends on it.
            for (String name : List.of("origin", "branch")) {
                Map<String, Object> service = services.get(name);
                assertTrue(String.valueOf(service.get("image")).startsWith("branchboot/server"), name + " runs the server image");
                Map<String, Object> port = ((List<Map<String, Object>>) service.get("ports")).get(0);
                int target = ((Number) port.get("target")).intValue();
                assertEquals(image.environment().get("SERVER_PORT"), Integer.toString(target), name + " publishes the server's port");
                published.put(name + ":" + target, ((Number) port.get("published")).intValue());

                Map<String, String> mounts = mounts(name, service, image);
                Map<String, String> env = new LinkedHashMap<>(image.environment());
                ((Map<String, Object>) service.getOrDefault("environment", Map.of())).forEach((key, value) ->
                        env.put(key, value == null ? "" : value.toString()));
                env.replaceAll((key, value) -> onHost(value, mounts, published));
                Set<String> serverVariables = HelmChartTest.serverEnvironmentNames();
                env.keySet().stream().filter(key -> key.startsWith("BRANCHBOOT_")).forEach(key ->
                        assertTrue(serverVariables.contains(key), name + ": " + key + " is the environment name of no server property"));
                env.put("SERVER_PORT", Integer.toString(published.get(name + ":" + target)));
                env.put("SERVER_ADDRESS", "127.0.0.1");
                List<String> command = new ArrayList<>();
                ((List<Object>) service.getOrDefault("command", List.of())).forEach(arg -> command.add(onHost(arg.toString(), mounts, published)));

                Path log = dir.resolve(name + ".log");
                Process process = image.start(workdir, env, command, log);
                running.put(name, process);
                int port2 = published.get(name + ":" + target);
                ServerImage.awaitHealthy(process, "http://127.0.0.1:" + port2 + "/actuator/health/liveness", log);
                runHealthcheck(name, service, target, port2, log);
            }
            URI throughBranch = URI.create("http://127.0.0.1:" + branchPort + "/images/disk.raw");
            assertArrayEquals(disk, TestHttp.send("GET", throughBranch).body(), "cold read through the branch");
            assertArrayEquals(disk, TestHttp.send("GET", throughBranch).body(), "warm read through the branch");
            String metrics = new String(TestHttp.send("GET", URI.create("http://127.0.0.1:" + branchPort + "/actuator/prometheus")).body(),
                    StandardCharsets.UTF_8);
            assertTrue(metrics.contains("application=\"branchboot-branch\""), "the branch's series carry its application name");
            assertTrue(metrics.contains("branchboot_cache_requests_total{application=\"branchboot-branch\",result=\"hit\"}"), metrics);
        } finally {
            for (Process process : running.values()) {
                ServerImage.stop(process);
            }
        }
    }

    /** Container folder to host folder: bind mounts as given, named volumes and the image's unmounted VOLUMEs as temporary folders. */
    @SuppressWarnings("unchecked")
    private Map<String, String> mounts(String name, Map<String, Object> service, ServerImage image) throws IOException {
        Map<String, String> mounts = new LinkedHashMap<>();
        for (Object volume : (List<Object>) service.getOrDefault("volumes", List.of())) {
            String[] parts = volume.toString().split(":");
            String source = parts[0];
            Path host = source.startsWith("/") ? Path.of(source) : Files.createDirectories(dir.resolve("volumes").resolve(source));
            assertTrue(Files.isDirectory(host), name + ": " + host + " exists on the host");
            mounts.put(parts[1], host.toString());
        }
        for (String volume : image.volumes()) {
            if (!mounts.containsKey(volume)) {
                mounts.put(volume, Files.createDirectories(dir.resolve("anonymous").resolve(name).resolve(volume.substring(1))).toString());
            }
        }
        return mounts;
    }

    /** A value as the host sees it: container folders replaced by their host folders, service addresses by 127.0.0.1 and the published port. */
    private static String onHost(String value, Map<String, String> mounts, Map<String, Integer> published) {
        String result = value;
        for (Map.Entry<String, Integer> service : published.entrySet()) {
            result = result.replace("//" + service.getKey(), "//127.0.0.1:" + service.getValue());
        }
        for (Map.Entry<String, String> mount : mounts.entrySet()) {
            if (result.equals(mount.getKey()) || result.startsWith(mount.getKey() + "/")) {
                result = mount.getValue() + result.substring(mount.getKey().length());
            }
        }
        return result;
    }

    /** Runs the service's healthcheck test (CMD form) on the host against the published port; it must pass. */
    @SuppressWarnings("unchecked")
    private static void runHealthcheck(String name, Map<String, Object> service, int target, int port, Path log) throws Exception {
        List<Object> test = (List<Object>) ((Map<String, Object>) service.get("healthcheck")).get("test");
        assertEquals("CMD", test.get(0), name + ": a CMD healthcheck");
        List<String> command = new ArrayList<>();
        for (Object arg : test.subList(1, test.size())) {
            command.add(arg.toString().replace("127.0.0.1:" + target, "127.0.0.1:" + port));
        }
        assertFalse(command.equals(test.subList(1, test.size())), name + ": the healthcheck asks the server's port: " + test);
        // The readiness group may take a moment after liveness (the branch's cache check); the engine retries too.
        String[] lastOutput = {""};
        try {
            Awaitility.await(name + ": healthcheck " + command).atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500))
                    .until(() -> {
                        Process check = new ProcessBuilder(command).redirectErrorStream(true).start();
                        lastOutput[0] = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                        assertTrue(check.waitFor(30, TimeUnit.SECONDS), name + ": healthcheck finished");
                        return check.exitValue() == 0;
                    });
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(name + ": healthcheck " + command + " failed: " + lastOutput[0] + "\n" + Files.readString(log), e);
        }
    }

    /** Runs docker-compose on the repository's file with the given variables set (and no others of its own). */
    private static String compose(Map<String, String> variables, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("docker-compose", "--file",
                DeployFiles.repository().resolve("docker-compose.yml").toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).directory(DeployFiles.repository().toFile());
        builder.environment().keySet().removeIf(key -> key.startsWith("BRANCHBOOT_") || key.startsWith("PROMETHEUS_") || key.startsWith("GRAFANA_"));
        builder.environment().putAll(variables);
        Process process = builder.redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(2, TimeUnit.MINUTES), "docker-compose finished");
        assertEquals(0, process.exitValue(), String.join(" ", command) + ":\n" + output);
        return output;
    }
}
