package dev.branchboot.agent.serve;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/** Runs the real NBD clients the acceptance tests use, failing with their output when they fail. */
public final class Tools {
    private Tools() {
    }

    public static String run(Path dir, String... command) throws IOException, InterruptedException {
        return run(dir, List.of(command));
    }

    public static String run(Path dir, List<String> command) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IOException("cannot run " + command.get(0) + " (packages: qemu-utils, libnbd-bin, nbdfuse, fuse2fs): "
                    + e.getMessage(), e);
        }
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int status = p.waitFor();
        if (status != 0) {
            throw new IOException(String.join(" ", command) + " exited with " + status + ":\n" + output);
        }
        return output;
    }
}
