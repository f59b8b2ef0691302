package dev.branchboot.qcow2;

import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;

/**
 * Decompresses one compressed cluster. The input may carry trailing bytes after the compressed
 * stream (padding to a sector, or the start of the next cluster): a decompressor stops after
 * exactly {@code output.remaining()} bytes of output and never looks at the input past that point.
 * Heap and direct buffers are both accepted. Instances are safe for concurrent use.
 */
public interface ClusterDecompressor {

    /**
     * Decompresses from {@code input}'s position (up to its limit) until {@code output} is full.
     * Positions of both buffers are left unspecified.
     *
     * @throws DataFormatException when the input is malformed or ends too early
     */
    void decompress(ByteBuffer input, ByteBuffer output) throws DataFormatException;

    /** What decodes deflate clusters in this process: "libdeflate", or "zlib" when that did not load. */
    static String deflateDecoder() {
        return LibdeflateDecompressor.INSTANCE != null ? "libdeflate" : "zlib";
    }

    /** The decompressor for an image's compression type. */
    static ClusterDecompressor of(CompressionType type) {
        return switch (type) {
            case DEFLATE -> LibdeflateDecompressor.INSTANCE != null ? LibdeflateDecompressor.INSTANCE
                    : DeflateClusterDecompressor.INSTANCE;
            case ZSTD -> ZstdClusterDecompressor.INSTANCE;
        };
    }
}
