package dev.branchboot.agent.overlay;

import dev.branchboot.agent.blockdev.DeviceFullException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Overlay blocks in a local sparse file, block {@code b} at file offset {@code b * blockSize}, with
 * the allocation map beside it in {@code PATH.map} (see {@link OverlayMapFile}). The map records the
 * image revision; opening the overlay for any other revision fails, so a PC's changes never land
 * on a different image. The data file is locked while open, so two agents cannot share it.
 */
final class FileStore implements OverlayStore {
    private static final int MAX_PIECE = 1 << 20;

    private final Path dataPath;
    private final Path mapPath;
    private final int blockSize;
    private final long diskSize;
    private final String revision;
    private final FileChannel data;
    private final FileLock lock;
    private final BlockStates initial;

    private FileStore(Path dataPath, int blockSize, long diskSize, String revision, FileChannel data, FileLock lock,
                      BlockStates initial) {
        this.dataPath = dataPath;
        this.mapPath = mapPath(dataPath);
        this.blockSize = blockSize;
        this.diskSize = diskSize;
        this.revision = revision;
        this.data = data;
        this.lock = lock;
        this.initial = initial;
    }

    static Path mapPath(Path dataPath) {
        return dataPath.resolveSibling(dataPath.getFileName() + ".map");
    }

    /**
     * Opens (or creates) the overlay at {@code path} for a disk of {@code diskSize} bytes at image
     * revision {@code revision}; {@code reset} discards whatever it held.
     *
     * @throws OverlayMismatchException when the overlay was made for another revision or size
     * @throws OverlayException         when it is corrupt or in use
     */
    static FileStore open(Path path, int blockSize, long diskSize, String revision, boolean reset) throws IOException {
        long blocks = (diskSize + blockSize - 1) / blockSize;
        Path map = mapPath(path);
        Path parent = path.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                throw new OverlayException("overlay file " + path + " is in use by another agent");
            }
            BlockStates states;
            if (reset || !Files.exists(map)) {
                // Without a committed map nothing in the data file was ever acknowledged as durable.
                ch.truncate(0);
                states = new BlockStates(blocks);
                OverlayMapFile.write(map, blockSize, diskSize, revision, states);
                ch.force(true);
            } else {
                OverlayMapFile.Contents contents = OverlayMapFile.read(map, blocks);
                if (!contents.revision().equals(revision)) {
                    throw new OverlayMismatchException("overlay file " + path + " belongs to image revision "
                            + contents.revision() + ", but the image is now at revision " + revision
                            + "; refusing to attach it (use --cow-reset to discard its changes)");
                }
                if (contents.diskSize() != diskSize || contents.blockSize() != blockSize) {
                    throw new OverlayMismatchException("overlay file " + path + " was made for a disk of "
                            + contents.diskSize() + " bytes in blocks of " + contents.blockSize() + ", not "
                            + diskSize + " bytes in blocks of " + blockSize + " (use --cow-reset to discard it)");
                }
                states = contents.states();
            }
            return new FileStore(path, blockSize, diskSize, revision, ch, lock, states);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    @Override
    public String describe() {
        return "overlay file " + dataPath;
    }

    @Override
    public long capacityBlocks() {
        return Long.MAX_VALUE;
    }

    @Override
    public BlockStates initialStates() {
        return initial;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        long position = offset;
        while (dst.hasRemaining()) {
            int n = Math.min(dst.remaining(), MAX_PIECE);
            ByteBuffer piece = dst.slice(dst.position(), n);
            while (piece.hasRemaining()) {
                int r = data.read(piece, position + piece.position());
                if (r < 0) {
                    // A block in the map but past the end of the file: written sparse, never stored. Reads as zeros.
                    while (piece.hasRemaining()) {
                        piece.put((byte) 0);
                    }
                }
            }
            dst.position(dst.position() + n);
            position += n;
        }
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
        long position = offset;
        while (src.hasRemaining()) {
            int n = Math.min(src.remaining(), MAX_PIECE);
            ByteBuffer piece = src.slice(src.position(), n);
            try {
                while (piece.hasRemaining()) {
                    data.write(piece, position + piece.position());
                }
            } catch (IOException e) {
                // The JDK reports ENOSPC/EDQUOT only in the message; NBD needs it as ENOSPC, not EIO.
                String m = String.valueOf(e.getMessage());
                if (m.contains("No space left") || m.contains("Disk quota exceeded") || m.contains("File too large")) {
                    throw new DeviceFullException(dataPath.toString(), position,
                            "the filesystem holding the overlay file is full (" + m + ")");
                }
                throw e;
            }
            src.position(src.position() + n);
            position += n;
        }
    }

    @Override
    public void discard(long first, long end) {
        // Java cannot punch holes; the blocks stay allocated in the file until overwritten, and the
        // map (not the file) says what they hold.
    }

    @Override
    public void sync(BlockStates states) throws IOException {
        // Data first, then the map that points at it: a crash in between leaves the old map, which
        // never refers to data that is not on disk.
        data.force(false);
        OverlayMapFile.write(mapPath, blockSize, diskSize, revision, states);
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            data.close();
        }
    }
}
