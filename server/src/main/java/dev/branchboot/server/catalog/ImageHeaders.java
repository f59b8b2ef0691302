package dev.branchboot.server.catalog;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.branchboot.qcow2.ImageException;
import dev.branchboot.qcow2.Qcow2Header;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.config.OriginMode;
import dev.branchboot.server.http.ImageFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

/**
 * Reads what the catalog shows from an image's header, with {@code qcow2/}'s header parser, and
 * remembers it per revision and ETag: a revision never changes in place, so a listing re-reads
 * only new files.
 */
@OriginMode
@Component
public class ImageHeaders {
    private static final Logger log = LoggerFactory.getLogger(ImageHeaders.class);
    /** Enough for the header and its extensions in the usual 64 KiB first cluster. */
    private static final int FIRST_READ = 64 * 1024;

    /** What the header says; format-specific fields are null for raw files. */
    record Facts(String format, long virtualSize, Integer clusterSize, String compression, String backingFile,
                 String backingFormat, Integer version, String error) {
    }

    private record Key(Path path, String etag) {
    }

    private final Cache<Key, Facts> cache;

    /** A cache of the configured size. */
    public ImageHeaders(BranchbootProperties properties) {
        this.cache = Caffeine.newBuilder().maximumSize(properties.catalog().headerCacheEntries()).build();
    }

    /** The header facts of {@code file}, read once per revision. */
    Facts of(ImageFile file) {
        return cache.get(new Key(file.path(), file.etag()), key -> read(file));
    }

    private Facts read(ImageFile file) {
        try (FileChannel channel = FileChannel.open(file.path(), StandardOpenOption.READ)) {
            ByteBuffer start = readStart(channel, (int) Math.min(FIRST_READ, file.size()));
            if (start.remaining() < 4 || start.getInt(0) != Qcow2Header.MAGIC) {
                return new Facts("raw", file.size(), null, null, null, null, null, null);
            }
            if (start.remaining() >= 24) {
                int clusterBits = start.getInt(20);
                // The header may use its whole first cluster (long backing names, many extensions).
                if (clusterBits > 16 && clusterBits <= Qcow2Header.MAX_CLUSTER_BITS) {
                    start = readStart(channel, (int) Math.min(1L << clusterBits, file.size()));
                }
            }
            Qcow2Header header = Qcow2Header.parse(file.revision(), start, file.size());
            return new Facts("qcow2", header.virtualSize(), header.clusterSize(), header.compressionType().qemuName(),
                    header.backingFileName(), header.backingFormat(), header.version(), null);
        } catch (ImageException e) {
            log.warn("Catalog: image '{}' has the QCOW2 magic but a bad header: {}", file.revision(), e.getMessage());
            return new Facts("qcow2", 0, null, null, null, null, null, e.getMessage());
        } catch (IOException e) {
            log.warn("Catalog: cannot read the header of image '{}': {}", file.revision(), e.toString());
            // Not cached as a fact about the revision: the next listing tries again.
            throw new HeaderUnreadableException(file.revision(), e);
        }
    }

    private static ByteBuffer readStart(FileChannel channel, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining() && channel.read(buffer, buffer.position()) >= 0) {
            // keep reading: a network file system may return short reads
        }
        buffer.flip();
        return buffer;
    }

    /** The header of an image could not be read (I/O error); the entry is listed with the error. */
    static class HeaderUnreadableException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        HeaderUnreadableException(String image, IOException cause) {
            super("cannot read the header of image '" + image + "': " + cause, cause);
        }
    }
}
