package dev.branchboot.qcow2;

/**
 * The image violates the format: a truncated file, a bad magic, a table pointer out of range, a
 * compressed cluster that does not decompress. Reading the affected range cannot give right bytes.
 */
public class CorruptImageException extends ImageException {
    private static final long serialVersionUID = 1L;

    /** Creates a corruption error about {@code image} at {@code offset}. */
    public CorruptImageException(String image, long offset, String cause) {
        super(image, offset, cause);
    }

    /** Creates a corruption error that wraps the failure that revealed it. */
    public CorruptImageException(String image, long offset, String cause, Throwable underlying) {
        super(image, offset, cause, underlying);
    }
}
