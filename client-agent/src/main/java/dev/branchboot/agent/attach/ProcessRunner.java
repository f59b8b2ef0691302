package dev.branchboot.agent.attach;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a helper program (nbd-client) to completion and keeps what it printed, for error messages. */
final class ProcessRunner {

    /** The exit status and the combined output of a finished program. */
    record Result(int status, String output) {
        /** The output on one line, at most 300 characters, for an error message. */
        String brief() {
            String line = output.strip().replaceAll("\\s*\\n\\s*", "; ");
            return line.length() > 300 ? line.substring(0, 300) + "..." : line;
        }
    }

    private ProcessRunner() {
    }

    /**
     * Runs {@code command}, waiting at most {@code timeoutSeconds}; its output goes into the result.
     *
     * @throws IOException when it cannot be started or does not finish in time
     */
    static Result run(List<String> command, long timeoutSeconds) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(
                new java.io.File("/dev/null"))).start();
        byte[] output;
        try (InputStream in = process.getInputStream()) {
            // nbd-client -nonetlink daemonizes: the parent exits, the daemon keeps no stdout open
            // (daemon() points it at /dev/null), so reading to the end does not block on it.
            output = in.readNBytes(64 * 1024);
        }
        if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IOException(command.get(0) + " did not finish within " + timeoutSeconds + " s");
        }
        return new Result(process.exitValue(), new String(output, StandardCharsets.UTF_8));
    }
}
