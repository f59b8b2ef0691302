package dev.branchboot.agent.cli;

/** A command line that cannot be parsed or has a bad value: exit status 2 and a pointer to --help. */
public final class UsageException extends Exception {
    private static final long serialVersionUID = 1L;

    /** Creates a usage error with a message for the user. */
    public UsageException(String message) {
        super(message);
    }
}
