package dev.branchboot.integrity;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Checks an image's bytes against its signed manifest, fetching the pages of block digests it
 * needs when it first needs them and keeping the most recently used ({@value #KEPT_PAGES} pages,
 * 16 MiB of digests for 2 GiB of image). Thread-safe; a page is fetched by whichever reader needs
 * it first (two readers needing the same new page may both fetch it).
 */
public final class ImageVerifier {
    private static final int KEPT_PAGES = 2048;

    /** Reads bytes of the manifest file: its pages, when first needed. */
    @FunctionalInterface
    public interface PageSource {
        /** Exactly {@code length} bytes of the manifest file at {@code offset}. */
        byte[] read(long offset, int length) throws IOException;
    }

    private final ImageManifest manifest;
    private final PageSource source;
    private final Map<Integer, DigestPage> pages = new LinkedHashMap<>(64, 0.75f, true) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<Integer, DigestPage> eldest) {
            return size() > KEPT_PAGES;
        }
    };

    /** Checks bytes against {@code manifest}, reading its pages from {@code source}. */
    public ImageVerifier(ImageManifest manifest, PageSource source) {
        this.manifest = manifest;
        this.source = source;
    }

    /** The manifest bytes are checked against. */
    public ImageManifest manifest() {
        return manifest;
    }

    /**
     * Checks that {@code bytes} (position to limit) are the image's bytes at {@code offset}:
     * whole blocks of the manifest's block size (the last may end at the image's end).
     *
     * @throws ManifestException naming the image and the first offset that does not match, or a
     *                           page of the manifest that does not match its signed digest
     * @throws IOException       when a page of the manifest cannot be read
     */
    public void verify(long offset, ByteBuffer bytes) throws IOException {
        long end = offset + bytes.remaining();
        if (end > manifest.imageSize()) {
            throw new ManifestException(manifest.name(), "bytes " + offset + ".." + (end - 1) + " lie past the end of the "
                    + manifest.imageSize() + "-byte image the manifest describes");
        }
        long at = offset;
        int position = bytes.position();
        while (at < end) {
            int page = manifest.pageOf(at);
            long pageEnd = Math.min(end, (long) (page + 1) * ImageManifest.BLOCKS_PER_PAGE * manifest.blockSize());
            int length = (int) (pageEnd - at);
            long bad = page(page).firstMismatch(at, bytes.slice(position, length));
            if (bad >= 0) {
                throw new ManifestException(manifest.name(), "bytes " + bad + ".." + (Math.min(end, bad + manifest.blockSize()) - 1)
                        + " do not match the signed manifest (" + manifest.revision() + ")");
            }
            position += length;
            at = pageEnd;
        }
    }

    /** The start of the manifest block holding {@code offset}. */
    public long blockStart(long offset) {
        return offset - offset % manifest.blockSize();
    }

    /** The end of the manifest block holding {@code offset - 1}, at most the image's end. */
    public long blockEnd(long offset) {
        long size = manifest.blockSize();
        return Math.min(manifest.imageSize(), (offset + size - 1) / size * size);
    }

    private DigestPage page(int index) throws IOException {
        synchronized (pages) {
            DigestPage page = pages.get(index);
            if (page != null) {
                return page;
            }
        }
        DigestPage fetched = manifest.page(index, source.read(manifest.pageOffset(index), manifest.pageLength(index)));
        synchronized (pages) {
            pages.put(index, fetched);
        }
        return fetched;
    }
}
