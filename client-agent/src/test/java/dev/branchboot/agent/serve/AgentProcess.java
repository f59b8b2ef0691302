package dev.branchboot.agent.serve;

import dev.branchboot.agent.testing.Waits;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The real agent jar running {@code serve} in its own JVM, for integration tests. Started with a
 * ready file; {@link #start} returns once the file appears (the export is then being served) or
 * fails with the agent's log if the process exits first.
 */
public final class AgentProcess implements AutoCloseable {
    private final Process process;
    private final Path log;
    private final String address;

    private AgentProcess(Process process, Path log, String address) {
        this.process = process;
        this.log = log;
        this.address = address;
    }

    /** JVM options for short test runs: a quick JIT and the small collector, as in an initramfs. */
    public static final List<String> QUICK_JVM = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto");

    /**
     * How long {@link #start} waits for the ready file: longer than the default retry deadline
     * (5 min), so that an agent whose servers never answer exits, with its reason in the log,
     * before the wait gives up.
     */
    private static final Duration START_TIMEOUT = Duration.ofMinutes(6);

    /** The shaded jar built by {@code package} (failsafe passes its path). */
    public static Path jar() {
        String jar = System.getProperty("branchboot.agent.jar");
        if (jar == null) {
            throw new IllegalStateException("system property branchboot.agent.jar is not set (run through failsafe)");
        }
        return Path.of(jar);
    }

    /** Runs {@code java [jvmArgs] -jar agent.jar serve ARGS --ready-file ...} in {@code dir}. */
    public static AgentProcess start(Path dir, List<String> jvmArgs, String... args) throws IOException {
        Path ready = Files.createTempFile(dir, "ready", ".txt");
        Files.delete(ready);
        Path log = Files.createTempFile(dir, "agent", ".log");
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmArgs);
        command.addAll(List.of("-jar", jar().toString(), "serve"));
        command.addAll(List.of(args));
        command.addAll(List.of("--ready-file", ready.toString()));
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        try {
            Waits.untilReady("the agent to write its ready file " + ready, p, log, START_TIMEOUT, Duration.ofMillis(50),
                    () -> Files.exists(ready));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for the agent to start");
        }
        return new AgentProcess(p, log, Files.readString(ready, StandardCharsets.UTF_8).trim());
    }

    /** Runs the agent to completion (for commands expected to fail) and returns its exit status. */
    public static Result runToExit(Path dir, String... args) throws IOException, InterruptedException {
        return runToExit(dir, List.of(), args);
    }

    /** As {@link #runToExit(Path, String...)}, with these JVM options. */
    public static Result runToExit(Path dir, List<String> jvmArgs, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmArgs);
        command.addAll(List.of("-jar", jar().toString(), "serve"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(p.waitFor(), output);
    }

    /** Exit status and combined output of a finished run. */
    public record Result(int exitCode, String output) {
    }

    /** The address from the ready file, e.g. {@code unix:/tmp/x/nbd.sock} or {@code tcp:127.0.0.1:40123}. */
    public String address() {
        return address;
    }

    /** An NBD URI for {@code export} on this agent, as libnbd and qemu take it. */
    public String uri(String export) {
        if (address.startsWith("unix:")) {
            return "nbd+unix:///" + export + "?socket=" + address.substring(5);
        }
        return "nbd://" + address.substring(4) + "/" + export;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** What the agent logged so far. */
    public String log() throws IOException {
        return Files.readString(log);
    }

    /** SIGTERM, then the exit status once the agent has drained and exited. */
    public int terminate() throws InterruptedException {
        process.destroy();
        return process.waitFor();
    }

    /** SIGKILL: the agent gets no chance to flush anything. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
