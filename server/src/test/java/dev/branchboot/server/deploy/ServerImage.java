package dev.branchboot.server.deploy;

import dev.branchboot.server.testing.TestHttp;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.awaitility.core.TerminalFailureException;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code server/Dockerfile} without a container engine: its instructions read from the file, its
 * extract step run as written on the built jar, the layers copied where its {@code COPY --from}
 * lines put them, and its {@code ENTRYPOINT} started as a process in the runtime's working folder
 * with the image's {@code ENV} under the caller's environment, so that what the image would run is
 * what the tests run.
 */
final class ServerImage {
    /** One instruction of the Dockerfile: its keyword (upper case) and the rest of its line. */
    record Instruction(String keyword, String arguments) {
    }

    private static final Pattern ENV_PAIR = Pattern.compile("(\\w+)=(\\S+)");

    private final List<Instruction> build;
    private final List<Instruction> runtime;

    private ServerImage(List<Instruction> build, List<Instruction> runtime) {
        this.build = build;
        this.runtime = runtime;
    }

    /** The instructions of server/Dockerfile: the first stage builds, the last one runs. */
    static ServerImage read() throws IOException {
        String text = Files.readString(dockerfile()).replaceAll("\\\\\\n", " ");
        List<List<Instruction>> stages = new ArrayList<>();
        for (String line : text.split("\n")) {
            String trimmed = line.strip();
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                continue;
            }
            String[] parts = trimmed.split("\\s+", 2);
            Instruction instruction = new Instruction(parts[0].toUpperCase(), parts.length > 1 ? parts[1].strip() : "");
            if (instruction.keyword().equals("FROM")) {
                stages.add(new ArrayList<>());
            }
            stages.get(stages.size() - 1).add(instruction);
        }
        return new ServerImage(stages.get(0), stages.get(stages.size() - 1));
    }

    static Path dockerfile() {
        return DeployFiles.repository().resolve("server/Dockerfile");
    }

    /** The built jar that the Dockerfile copies from {@code target/}. */
    static Path jar() {
        return DeployFiles.repository().resolve("server/target/branchboot-server.jar");
    }

    /** Every instruction of the runtime stage with this keyword. */
    List<String> runtime(String keyword) {
        return runtime.stream().filter(i -> i.keyword().equals(keyword)).map(Instruction::arguments).toList();
    }

    /** The runtime stage's ENV, in order. */
    Map<String, String> environment() {
        Map<String, String> environment = new LinkedHashMap<>();
        for (String env : runtime("ENV")) {
            Matcher pair = ENV_PAIR.matcher(env);
            while (pair.find()) {
                environment.put(pair.group(1), pair.group(2));
            }
        }
        return environment;
    }

    /** The runtime stage's VOLUME folders. */
    List<String> volumes() {
        List<String> volumes = new ArrayList<>();
        for (String volume : runtime("VOLUME")) {
            volumes.addAll(JsonMapper.builder().build().readValue(volume, List.class));
        }
        return volumes;
    }

    /** The runtime stage's ENTRYPOINT (exec form). */
    @SuppressWarnings("unchecked")
    List<String> entrypoint() {
        List<String> entrypoint = runtime("ENTRYPOINT");
        return JsonMapper.builder().build().readValue(entrypoint.get(entrypoint.size() - 1), List.class);
    }

    /**
     * Does the build stage in {@code root} (its WORKDIR as a folder there): copies the jar where its
     * COPY puts it and runs its RUN lines with sh; then copies the layers as the runtime stage's
     * {@code COPY --from} lines say into its WORKDIR under {@code root}, which it returns.
     */
    Path assemble(Path root) throws IOException, InterruptedException {
        Path buildDir = under(root, single(build, "WORKDIR"));
        Files.createDirectories(buildDir);
        for (Instruction instruction : build) {
            if (instruction.keyword().equals("COPY")) {
                String[] paths = instruction.arguments().split("\\s+");
                assertThat(paths[0].equals("target/branchboot-server.jar"), "the build stage copies the built jar: " + instruction);
                Files.copy(jar(), buildDir.resolve(paths[1]), StandardCopyOption.REPLACE_EXISTING);
            } else if (instruction.keyword().equals("RUN")) {
                Process run = new ProcessBuilder("sh", "-c", instruction.arguments()).directory(buildDir.toFile())
                        .redirectErrorStream(true).start();
                String output = new String(run.getInputStream().readAllBytes());
                assertThat(run.waitFor(5, TimeUnit.MINUTES) && run.exitValue() == 0, "RUN " + instruction.arguments() + ":\n" + output);
            }
        }
        Path workdir = under(root, single(runtime, "WORKDIR"));
        Files.createDirectories(workdir);
        for (String copy : runtime("COPY")) {
            String[] parts = copy.split("\\s+");
            assertThat(parts.length == 3 && parts[0].startsWith("--from=") && parts[2].equals("./"), "COPY --from=STAGE DIR ./: " + copy);
            copyTree(under(root, parts[1]), workdir);
        }
        return workdir;
    }

    /**
     * Starts the ENTRYPOINT in {@code workdir} (java as this JVM's) with exactly {@code environment}
     * (plus PATH), its output in {@code log}.
     */
    Process start(Path workdir, Map<String, String> environment, List<String> command, Path log) throws IOException {
        List<String> line = new ArrayList<>(entrypoint());
        assertThat(line.get(0).equals("java"), "the entry point runs java: " + line);
        line.set(0, ProcessHandle.current().info().command().orElse("java"));
        line.addAll(command);
        ProcessBuilder builder = new ProcessBuilder(line).directory(workdir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        builder.environment().clear();
        builder.environment().put("PATH", System.getenv("PATH"));
        builder.environment().putAll(environment);
        return builder.start();
    }

    /** Waits up to two minutes for {@code url} to answer 200; fails with the log if the process dies first. */
    static void awaitHealthy(Process process, String url, Path log) throws IOException {
        try {
            Awaitility.await(url + " answering 200").atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200))
                    .failFast("the server exited", () -> !process.isAlive())
                    .ignoreException(UncheckedIOException.class) // not listening yet
                    .until(() -> TestHttp.send("GET", URI.create(url)).statusCode() == 200);
        } catch (TerminalFailureException e) {
            throw new AssertionError("the server exited (" + process.exitValue() + "):\n" + Files.readString(log), e);
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(url + " not healthy after two minutes:\n" + Files.readString(log), e);
        }
    }

    /** Stops a started server: SIGTERM as the engine sends, then kill. */
    static void stop(Process process) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static String single(List<Instruction> stage, String keyword) {
        List<String> values = stage.stream().filter(i -> i.keyword().equals(keyword)).map(Instruction::arguments).toList();
        assertThat(values.size() == 1, "one " + keyword + " in the stage: " + values);
        return values.get(0);
    }

    /** An absolute container path as a folder under {@code root}. */
    static Path under(Path root, String containerPath) {
        assertThat(containerPath.startsWith("/"), "an absolute path: " + containerPath);
        return root.resolve(containerPath.substring(1));
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path source : walk.toList()) {
                Path target = to.resolve(from.relativize(source).toString());
                if (Files.isDirectory(source)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    private static void assertThat(boolean condition, String message) {
        if (!condition) {
            throw new AssertionError(message);
        }
    }
}
