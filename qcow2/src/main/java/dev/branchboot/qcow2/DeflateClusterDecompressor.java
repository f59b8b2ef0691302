package dev.branchboot.qcow2;

import java.nio.ByteBuffer;
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
    public void decompress(ByteBuffer input, ByteBuffer output) throws DataFormatException {
        Inflater inflater = INFLATERS.get();
        inflater.reset();
        inflater.setInput(input);
        int outputLength = output.remaining();
        int produced = 0;
        int idle = 0;
        while (produced < outputLength) {
            int n = inflater.inflate(output);
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
