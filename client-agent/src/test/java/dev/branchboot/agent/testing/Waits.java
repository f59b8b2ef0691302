package dev.branchboot.agent.testing;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.awaitility.core.ConditionTimeoutException;

/**
 * The wait the agent's tests share when they start a program (an agent, a server, Prometheus,
 * nbdfuse, fuse2fs): until it is ready, however it shows that, for a bounded time, failing at
 * once when the program exits first. Either failure says what was awaited and carries the
 * program's log, which is where the reason is, and kills the program, so that a failed start
 * leaves nothing running.
 */
public final class Waits {

    private Waits() {
    }

    /** What shows that a program is ready: a file it writes, a request it answers. */
    @FunctionalInterface
    public interface Condition {
        /** Whether it holds now; an exception fails the wait at once. */
        boolean holds() throws IOException, InterruptedException;
    }

    /**
     * Polls {@code condition} every {@code pollInterval}, the first time at once, until it is
     * true, while {@code process} runs. When the wait fails, for whatever reason, {@code process}
     * is killed.
     *
     * @param what      what is awaited, for the failure message: "the agent to write its ready file"
     * @param log       the file {@code process} logs to
     * @throws AssertionError naming {@code what}, with the log, when {@code process} exits before
     *                        {@code condition} holds or {@code atMost} passes first
     * @throws IOException    what {@code condition} throws, at once
     */
    public static void untilReady(String what, Process process, Path log, Duration atMost, Duration pollInterval,
            Condition condition) throws IOException, InterruptedException {
        boolean ready = false;
        try {
            await(what).atMost(atMost).pollDelay(Duration.ZERO).pollInterval(pollInterval).until(() -> {
                if (condition.holds()) {
                    return true;
                }
                if (!process.isAlive()) {
                    throw new AssertionError("waited for " + what + ", but the process exited with " + process.exitValue()
                            + " first; its log:\n" + logOf(log));
                }
                return false;
            });
            ready = true;
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("waited " + atMost.toSeconds() + " s for " + what + " in vain; the process's log:\n"
                    + logOf(log), e);
        } finally {
            if (!ready) {
                process.destroyForcibly();
            }
        }
    }

    /** The log's text; a log that cannot be read must not hide the failure being reported. */
    private static String logOf(Path log) {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }
}
