package dev.branchboot.qcow2;

/**
 * Decompresses one compressed cluster. The input may carry trailing bytes after the compressed
 * stream (padding to a sector, or the start of the next cluster): a decompressor stops after
 * exactly {@code outputLength} bytes of output and never looks at the input past that point.
 * Instances are safe for concurrent use.
 */
public interface ClusterDecompressor {

    /**
     * Decompresses {@code input[inOff, inOff+inLen)} into exactly {@code outputLength} bytes at
     * {@code output[outOff]}.
     *
     * @throws java.util.zip.DataFormatException when the input is malformed or ends too early
     */
    void decompress(byte[] input, int inOff, int inLen, byte[] output, int outOff, int outputLength)
            throws java.util.zip.DataFormatException;

    /** The decompressor for an image's compression type. */
    static ClusterDecompressor of(CompressionType type) {
        return switch (type) {
            case DEFLATE -> DeflateClusterDecompressor.INSTANCE;
            case ZSTD -> ZstdClusterDecompressor.INSTANCE;
        };
    }
}
