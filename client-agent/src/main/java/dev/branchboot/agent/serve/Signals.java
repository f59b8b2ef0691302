package dev.branchboot.agent.serve;

/**
 * SIGTERM and SIGINT as a request for an orderly stop. A JVM shutdown hook would run too late to
 * choose the exit status (the JVM exits 143 after SIGTERM), so the signals are caught instead and
 * the command returns 0 after draining.
 */
final class Signals {
    private Signals() {
    }

    @SuppressWarnings("restriction")
    static void onTermination(Runnable action) {
        for (String name : new String[] {"TERM", "INT"}) {
            sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> action.run());
        }
    }

    /** SIGUSR1 as a request to log a summary; ignored where the JVM reserves the signal. */
    @SuppressWarnings("restriction")
    static void onSummaryRequest(Runnable action) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("USR1"), signal -> action.run());
        } catch (IllegalArgumentException e) {
            java.util.logging.Logger.getLogger(Signals.class.getName()).fine("SIGUSR1 is not available: " + e.getMessage());
        }
    }
}
