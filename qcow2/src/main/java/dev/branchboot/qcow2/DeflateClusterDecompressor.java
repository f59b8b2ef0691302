package dev.branchboot.qcow2;

import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Raw deflate (no zlib header), as qemu writes it. qemu compresses with a 4 KiB window; Java's
 * 32 KiB-window inflater reads that as well. One inflater per thread is reused, as creating one
 * allocates native state.
 */
final class DeflateClusterDecompressor implements ClusterDecompressor {
    static final DeflateClusterDecompressor INSTANCE = new DeflateClusterDecompressor();

    private static final ThreadLocal<Inflater> INFLATERS = ThreadLocal.withInitial(() -> new Inflater(true));

    private DeflateClusterDecompressor() {
    }

    @Override
    public void decompress(byte[] input, int inOff, int inLen, byte[] output, int outOff, int outputLength)
            throws DataFormatException {
        Inflater inflater = INFLATERS.get();
        inflater.reset();
        inflater.setInput(input, inOff, inLen);
        int produced = 0;
        int idle = 0;
        while (produced < outputLength) {
            int n = inflater.inflate(output, outOff + produced, outputLength - produced);
            if (n == 0) {
                if (inflater.needsDictionary()) {
                    throw new DataFormatException("deflate stream asks for a preset dictionary");
                }
                // Guard against a stream that makes no progress for any other reason: never spin.
                if (inflater.finished() || inflater.needsInput() || ++idle > 4) {
                    break;
                }
            }
            produced += n;
        }
        if (produced != outputLength) {
            throw new DataFormatException("deflate stream ended after " + produced + " of " + outputLength + " bytes");
        }
    }
}
