package dev.branchboot.qcow2;

/**
 * A backing file cannot be opened as the image asks: it is missing, absolute and not found next to
 * the image, part of a loop, or the chain is deeper than the configured limit.
 */
public class BackingChainException extends ImageException {
    private static final long serialVersionUID = 1L;

    /** Creates an error about the backing chain below {@code image}. */
    public BackingChainException(String image, String cause) {
        super(image, NO_OFFSET, cause);
    }

    /** Creates an error about the backing chain below {@code image}, wrapping its cause. */
    public BackingChainException(String image, String cause, Throwable underlying) {
        super(image, NO_OFFSET, cause, underlying);
    }
}
