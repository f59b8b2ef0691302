package dev.branchboot.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * Opens a disk image and its backing chain: detects QCOW2 or raw, parses and validates each
 * header, and resolves backing files through {@link ByteSource#resolveSibling}, with a depth limit
 * and loop detection.
 */
public final class DiskImages {
    private static final int FIRST_READ = 64 * 1024;

    private DiskImages() {
    }

    /** Opens a local QCOW2 image file and its backing chain. */
    public static VirtualDisk open(Path path, ImageOptions options) throws IOException {
        return open(path, ImageFormat.QCOW2, options);
    }

    /** Opens a local image file of {@code format} and its backing chain. */
    public static VirtualDisk open(Path path, ImageFormat format, ImageOptions options) throws IOException {
        return open(FileByteSource.open(path), format, options);
    }

    /**
     * Opens the image in {@code source}, which must be of {@code format} (the top image's format is
     * never guessed: a damaged QCOW2 header must not turn the file into a raw disk), and its backing
     * chain, whose formats come from each image's backing-format extension or, failing that, from
     * the backing file's magic. On success the returned disk owns {@code source}; on failure
     * {@code source} is closed.
     */
    public static VirtualDisk open(ByteSource source, ImageFormat format, ImageOptions options) throws IOException {
        return openLayer(source, format.qemuName(), options, 0, new HashSet<>(), null);
    }

    private static VirtualDisk openLayer(ByteSource source, String format, ImageOptions options, int depth,
                                         Set<Object> chain, String parentName) throws IOException {
        try {
            if (!chain.add(source.identity())) {
                throw new BackingChainException(parentName, "backing chain loops: '" + source.name()
                        + "' is already part of the chain");
            }
            long fileSize = source.size();
            ByteBuffer start = ByteBuffer.allocate((int) Math.min(FIRST_READ, fileSize));
            source.readFully(0, start);
            start.flip();
            boolean looksQcow2 = start.remaining() >= 4 && start.getInt(0) == Qcow2Header.MAGIC;
            ImageFormat effective = format != null ? ImageFormat.fromQemuName(format)
                    : (looksQcow2 ? ImageFormat.QCOW2 : ImageFormat.RAW);
            if (effective == null) {
                throw new UnsupportedImageException(source.name(), ImageException.NO_OFFSET,
                        "backing file format '" + format + "' is not supported (only qcow2 and raw)");
            }
            if (effective == ImageFormat.RAW) {
                return new RawImage(source);
            }
            if (start.remaining() >= 24) {
                int clusterBits = start.getInt(20);
                long wanted = Math.min(fileSize, 1L << Math.min(Math.max(clusterBits, 0), Qcow2Header.MAX_CLUSTER_BITS));
                if (clusterBits > 16 && wanted > start.remaining()) {
                    start = ByteBuffer.allocate((int) wanted);
                    source.readFully(0, start);
                    start.flip();
                }
            }
            Qcow2Header header = Qcow2Header.parse(source.name(), start, fileSize);
            VirtualDisk backing = null;
            if (header.backingFileName() != null) {
                if (depth >= options.maxBackingDepth()) {
                    throw new BackingChainException(source.name(), "backing chain is deeper than the limit of "
                            + options.maxBackingDepth() + " files");
                }
                ByteSource below = source.resolveSibling(header.backingFileName());
                backing = openLayer(below, header.backingFormat(), options, depth + 1, chain, source.name());
            }
            try {
                return new Qcow2Image(source, header, backing, options);
            } catch (IOException | RuntimeException e) {
                if (backing != null) {
                    backing.close();
                }
                throw e;
            }
        } catch (IOException | RuntimeException e) {
            try {
                source.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }
}
