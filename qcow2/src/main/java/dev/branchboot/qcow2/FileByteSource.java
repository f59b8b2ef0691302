package dev.branchboot.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A local file read with positional reads, so any number of threads can read it at once.
 *
 * <p>Backing files resolve relative to the file's directory. An absolute backing path is never
 * followed as it stands (an image from elsewhere could name any file on this machine): it is
 * mapped to the file of the same name next to the image, and refused when that is not there.
 */
public final class FileByteSource implements ByteSource {
    private final Path path;
    private final FileChannel channel;
    private final long size;

    private FileByteSource(Path path, FileChannel channel, long size) {
        this.path = path;
        this.channel = channel;
        this.size = size;
    }

    /** Opens {@code path} read-only; its size is fixed at open, as image files never change in place. */
    public static FileByteSource open(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            throw new ImageException(path.toString(), ImageException.NO_OFFSET, "is a directory, not an image file");
        }
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new ImageException(path.toString(), ImageException.NO_OFFSET, "no such file");
        } catch (IOException e) {
            throw new ImageException(path.toString(), ImageException.NO_OFFSET, "cannot open: " + e.getMessage(), e);
        }
        try {
            return new FileByteSource(path, channel, channel.size());
        } catch (IOException e) {
            channel.close();
            throw e;
        }
    }

    @Override
    public String name() {
        return path.toString();
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public int read(long position, ByteBuffer dst) throws IOException {
        int total = 0;
        while (dst.hasRemaining()) {
            int n = channel.read(dst, position + total);
            if (n < 0) {
                break;
            }
            total += n;
        }
        return total;
    }

    @Override
    public Object identity() {
        try {
            return path.toRealPath();
        } catch (IOException e) {
            return path.toAbsolutePath().normalize();
        }
    }

    @Override
    public ByteSource resolveSibling(String backingName) throws IOException {
        Path named = Path.of(backingName);
        Path directory = path.toAbsolutePath().getParent();
        if (named.isAbsolute()) {
            Path fileName = named.getFileName();
            Path sibling = fileName == null ? null : directory.resolve(fileName);
            if (sibling == null || !Files.isRegularFile(sibling)) {
                throw new BackingChainException(name(), "backing file '" + backingName
                        + "' is an absolute path; absolute paths are only followed to a file of the same name next to the image, and "
                        + (sibling == null ? "it has no file name" : sibling + " does not exist"));
            }
            return open(sibling);
        }
        Path resolved = directory.resolve(named).normalize();
        if (!Files.exists(resolved)) {
            throw new BackingChainException(name(), "backing file '" + backingName + "' not found (looked for " + resolved + ")");
        }
        return open(resolved);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
