package dev.branchboot.integrity;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Arrays;

/** One checked page of a manifest's block digests: the blocks of one MiB of the image, by default. */
public final class DigestPage {
    /** One digest per thread: a provider lookup per call costs as much as hashing a block. */
    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(ImageManifest::sha256);

    private final ImageManifest manifest;
    private final int index;
    private final byte[] digests;

    DigestPage(ImageManifest manifest, int index, byte[] digests) {
        this.manifest = manifest;
        this.index = index;
        this.digests = digests;
    }

    /** The page's number. */
    public int index() {
        return index;
    }

    /**
     * Whether {@code bytes} (from their position to their limit) are exactly the image's blocks
     * starting at {@code offset}: whole blocks of this page, the last one possibly cut by the
     * image's end.
     *
     * @return the image offset of the first block that does not match, or -1 when all match
     * @throws IllegalArgumentException when the bytes are not whole blocks of this page
     */
    public long firstMismatch(long offset, ByteBuffer bytes) {
        int blockSize = manifest.blockSize();
        long block = offset / blockSize;
        long firstOfPage = (long) index * manifest.blocksPerPage();
        long end = offset + bytes.remaining();
        if (offset % blockSize != 0 || block < firstOfPage || (end % blockSize != 0 && end != manifest.imageSize())
                || end > manifest.imageSize() || (end - offset + blockSize - 1) / blockSize + (block - firstOfPage) > digests.length
                / ImageManifest.DIGEST_LENGTH) {
            throw new IllegalArgumentException("bytes " + offset + ".." + (end - 1) + " are not whole blocks of page " + index
                    + " of " + manifest);
        }
        int blocks = (int) ((end - offset + blockSize - 1) / blockSize);
        byte[] computed = new byte[blocks * ImageManifest.DIGEST_LENGTH];
        if (!NativeSha256.available() || !NativeSha256.digestBlocks(bytes.duplicate(), blockSize, computed)) {
            javaDigests(bytes.duplicate(), blockSize, computed);
        }
        int firstSlot = (int) (block - firstOfPage) * ImageManifest.DIGEST_LENGTH;
        for (int i = 0; i < blocks; i++) {
            int slot = firstSlot + i * ImageManifest.DIGEST_LENGTH;
            if (!Arrays.equals(computed, i * ImageManifest.DIGEST_LENGTH, (i + 1) * ImageManifest.DIGEST_LENGTH,
                    digests, slot, slot + ImageManifest.DIGEST_LENGTH)) {
                return offset + (long) i * blockSize;
            }
        }
        return -1;
    }

    /** Java's SHA-256 of each block of {@code bytes} (the last may be short) into {@code out}, 32 bytes each. */
    private static void javaDigests(ByteBuffer bytes, int blockSize, byte[] out) {
        MessageDigest sha256 = SHA256.get();
        for (int at = 0; bytes.hasRemaining(); at += ImageManifest.DIGEST_LENGTH) {
            ByteBuffer one = bytes.slice(bytes.position(), Math.min(blockSize, bytes.remaining()));
            bytes.position(bytes.position() + one.remaining());
            sha256.reset();
            sha256.update(one);
            try {
                sha256.digest(out, at, ImageManifest.DIGEST_LENGTH);
            } catch (java.security.DigestException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
