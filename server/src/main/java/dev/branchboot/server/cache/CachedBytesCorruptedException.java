package dev.branchboot.server.cache;

import dev.branchboot.server.upstream.UpstreamRevision;
import java.io.IOException;

/**
 * Cached blocks that failed their check when read for a client: their bytes on disk are not the
 * ones stored (a disk that flipped bits, a file changed while the branch was stopped) or, with a
 * trust key, not the ones the publisher signed. The blocks are already dropped when this is thrown:
 * the caller fetches them again.
 */
public final class CachedBytesCorruptedException extends IOException {
    private static final long serialVersionUID = 1L;
    private final transient long[] offsets;

    CachedBytesCorruptedException(UpstreamRevision revision, int blockSize, long[] offsets, String check) {
        super("bytes " + offsets[0] + "-" + (Math.min(revision.size(), offsets[0] + blockSize) - 1) + " of image '" + revision.name()
                + "' revision " + revision.etag() + (offsets.length > 1 ? " and " + (offsets.length - 1) + " more blocks" : "")
                + " failed their " + check + " check on disk; dropped, they are fetched again");
        this.offsets = offsets;
    }

    /** The offsets of the blocks that failed and were dropped. */
    public long[] offsets() {
        return offsets.clone();
    }
}
