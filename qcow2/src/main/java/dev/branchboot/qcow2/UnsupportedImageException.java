package dev.branchboot.qcow2;

/**
 * The image is well formed but uses a feature this reader refuses: encryption, an external data
 * file, an unknown incompatible feature bit, an unknown compression type or format version.
 */
public class UnsupportedImageException extends ImageException {
    private static final long serialVersionUID = 1L;

    /** Creates an error naming the unsupported feature of {@code image}. */
    public UnsupportedImageException(String image, long offset, String feature) {
        super(image, offset, feature);
    }
}
