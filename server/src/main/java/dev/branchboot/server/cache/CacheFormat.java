package dev.branchboot.server.cache;

import dev.branchboot.server.upstream.UpstreamRevision;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The version of the cache directory's layout, in its {@code format} file, so that no branchboot
 * ever misreads a cache another version wrote.
 * <ul>
 * <li>Format 1 (no {@code format} file): fixed chunks, a {@code state} file per revision with a
 * presence flag and a CRC32C per chunk. Migrated in place at start: every present chunk whose
 * bytes still match its checksum becomes present blocks of format 2 (its bytes stay where they
 * are), everything else is dropped and fetched again when read; one log line says what was kept.</li>
 * <li>Format 2: blocks ({@link CachedRevision}).</li>
 * <li>A later format: the server refuses to start rather than guess.</li>
 * </ul>
 * A crash during the migration is harmless: a revision still holding its format 1 {@code state}
 * is migrated (again) at the next start, and the {@code format} file is written last.
 */
final class CacheFormat {
    private static final Logger log = LoggerFactory.getLogger(CacheFormat.class);
    static final int CURRENT = 2;
    static final String FILE = "format";
    private static final String HEADER = "branchboot-cache ";
    private static final String V1_STATE = "state";
    private static final int V1_MAGIC = 0x42424353; // "BBCS"

    private CacheFormat() {
    }

    /**
     * Makes {@code root} a cache directory of the current format: new, already current, or
     * migrated from format 1.
     *
     * @throws IllegalStateException when {@code root} holds a cache of a later format
     */
    static void prepare(Path root, int blockSize) throws IOException {
        Path file = root.resolve(FILE);
        if (Files.exists(file)) {
            int version = read(file);
            if (version > CURRENT) {
                throw new IllegalStateException("the cache directory " + root + " was written by a later branchboot (cache "
                        + "format " + version + "; this version reads format " + CURRENT + "): run that version, or point "
                        + "branchboot.cache.dir at another directory");
            }
            if (version == CURRENT) {
                return;
            }
        }
        Path revisions = root.resolve("revisions");
        if (Files.isDirectory(revisions)) {
            migrateFromVersion1(root, revisions, blockSize);
        }
        CacheFiles.writeAtomically(file, (HEADER + CURRENT + "\n").getBytes(StandardCharsets.UTF_8));
    }

    private static int read(Path file) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8).strip();
        if (!text.startsWith(HEADER)) {
            throw new IllegalStateException(file + " is not a branchboot cache format file ('" + text + "'); "
                    + "point branchboot.cache.dir at a directory of its own");
        }
        try {
            return Integer.parseInt(text.substring(HEADER.length()).strip());
        } catch (NumberFormatException e) {
            throw new IllegalStateException(file + " names no format version: '" + text + "'", e);
        }
    }

    private static void migrateFromVersion1(Path root, Path revisions, int blockSize) throws IOException {
        int migrated = 0;
        int discarded = 0;
        long keptBytes = 0;
        long droppedChunks = 0;
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(revisions)) {
            for (Path dir : dirs) {
                if (!Files.exists(dir.resolve(V1_STATE))) {
                    continue;
                }
                try {
                    long[] kept = migrateRevision(dir, blockSize);
                    keptBytes += kept[0];
                    droppedChunks += kept[1];
                    migrated++;
                } catch (IOException | RuntimeException e) {
                    CacheFiles.deleteRecursively(dir);
                    discarded++;
                    log.debug("Discarded format 1 revision {}: {}", dir, e.toString());
                }
            }
        }
        if (migrated + discarded > 0) {
            log.warn("Cache directory {} was written by an earlier branchboot (format 1, fixed chunks): migrated {} revisions to "
                    + "format {} ({} bytes kept, {} chunks that failed their checksum dropped), discarded {} that could not be "
                    + "read", root, migrated, CURRENT, keptBytes, droppedChunks, discarded);
        }
    }

    /** Migrates one revision; returns the bytes kept and the chunks dropped. */
    private static long[] migrateRevision(Path dir, int blockSize) throws IOException {
        UpstreamRevision upstream = RevisionProperties.read(dir);
        byte[] state = Files.readAllBytes(dir.resolve(V1_STATE));
        CRC32C stateCrc = new CRC32C();
        stateCrc.update(state, 0, state.length - 4);
        if (ByteBuffer.wrap(state).getInt(state.length - 4) != (int) stateCrc.getValue()) {
            throw new IOException("format 1 state checksum mismatch");
        }
        Files.deleteIfExists(dir.resolve(CachedRevision.PRESENCE_FILE));
        CachedRevision revision = CachedRevision.create(dir.getFileName().toString(), upstream, dir, blockSize);
        long kept = 0;
        long dropped = 0;
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(state));
             FileChannel data = FileChannel.open(dir.resolve(CachedRevision.DATA_FILE), StandardOpenOption.READ)) {
            if (in.readInt() != V1_MAGIC || in.readInt() != 1) {
                throw new IOException("not a format 1 chunk state file");
            }
            int chunkSize = in.readInt();
            int count = in.readInt();
            if (chunkSize <= 0 || chunkSize % blockSize != 0 || count != (upstream.size() + chunkSize - 1) / chunkSize) {
                throw new IOException("chunks of " + chunkSize + " bytes do not fit blocks of " + blockSize
                        + " or this image");
            }
            for (int chunk = 0; chunk < count; chunk++) {
                boolean present = in.readBoolean();
                int expected = in.readInt();
                if (!present) {
                    continue;
                }
                long offset = (long) chunk * chunkSize;
                int length = (int) Math.min(chunkSize, upstream.size() - offset);
                ByteBuffer bytes = ByteBuffer.allocate(length);
                while (bytes.hasRemaining() && data.read(bytes, offset + bytes.position()) >= 0) {
                    // until full or the file ends
                }
                CRC32C crc = new CRC32C();
                crc.update(bytes.array(), 0, bytes.position());
                if (bytes.hasRemaining() || (int) crc.getValue() != expected) {
                    dropped++;
                    continue;
                }
                // Format 1 forced a chunk's bytes before marking it: they are durable where they are.
                revision.adoptDurable(offset, bytes.array());
                kept += length;
            }
            revision.persistState();
        } finally {
            revision.close();
        }
        Files.delete(dir.resolve(V1_STATE));
        return new long[] {kept, dropped};
    }
}
