package dev.branchboot.integrity;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Runs the openssl command, as a publisher makes keys: the tests' keys come from the real tool. */
final class OpenSsl {
    private OpenSsl() {
    }

    /** Runs {@code openssl ARGS...} and fails the test with its output unless it exits 0. */
    static void run(String... args) throws Exception {
        String[] command = new String[args.length + 1];
        command[0] = "openssl";
        System.arraycopy(args, 0, command, 1, args.length);
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), output);
    }
}
