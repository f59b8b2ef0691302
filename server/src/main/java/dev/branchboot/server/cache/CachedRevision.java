package dev.branchboot.server.cache;

import dev.branchboot.server.upstream.UpstreamRevision;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.BitSet;
import java.util.zip.CRC32C;

/**
 * One cached revision of one image: a sparse data file holding the image's bytes at their own
 * offsets, and a state file with a presence bitmap of fixed-size chunks and a CRC32C per chunk.
 *
 * <p>Durability order, so a crash never leaves a chunk marked present with wrong bytes: a chunk's
 * bytes are written and {@code fsync}ed first; only then is it marked present in memory; the state
 * file is rewritten later (batched) to a temporary file, {@code fsync}ed, and renamed over the old
 * one. The persisted bitmap therefore only ever names chunks whose bytes were durable before it was
 * written, and a crash loses at most the marks of the last moments (those chunks are fetched again).
 */
public final class CachedRevision {
    private static final int STATE_MAGIC = 0x42424353; // "BBCS"
    private static final int STATE_VERSION = 1;
    static final String DATA_FILE = "data";
    static final String STATE_FILE = "state";

    private final String id;
    private final UpstreamRevision upstream;
    private final Path dir;
    private final int chunkSize;
    private final int chunkCount;
    private final FileChannel data;
    private final BitSet present;
    private final int[] checksums;
    private boolean dirty;
    /** One state writer at a time: they share the temporary file. */
    private final Object persistLock = new Object();
    private volatile boolean verified;
    private volatile long lastUsedMillis = System.currentTimeMillis();
    /** Responses and replications using the revision now: eviction leaves it alone while non-zero. */
    private final java.util.concurrent.atomic.AtomicInteger users = new java.util.concurrent.atomic.AtomicInteger();
    private volatile boolean evicted;

    private CachedRevision(String id, UpstreamRevision upstream, Path dir, int chunkSize, FileChannel data,
            BitSet present, int[] checksums, boolean verified) {
        this.id = id;
        this.upstream = upstream;
        this.dir = dir;
        this.chunkSize = chunkSize;
        this.chunkCount = chunkCount(upstream.size(), chunkSize);
        this.data = data;
        this.present = present;
        this.checksums = checksums;
        this.verified = verified;
    }

    static int chunkCount(long size, int chunkSize) {
        long count = (size + chunkSize - 1) / chunkSize;
        if (count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("image of " + size + " bytes has too many chunks of " + chunkSize);
        }
        return (int) count;
    }

    /** Creates an empty revision in {@code dir}: a sparse data file of the image's length and an empty state. */
    static CachedRevision create(String id, UpstreamRevision upstream, Path dir, int chunkSize) throws IOException {
        Files.createDirectories(dir);
        try (RandomAccessFile file = new RandomAccessFile(dir.resolve(DATA_FILE).toFile(), "rw")) {
            file.setLength(upstream.size());
        }
        FileChannel data = FileChannel.open(dir.resolve(DATA_FILE), StandardOpenOption.READ, StandardOpenOption.WRITE);
        int count = chunkCount(upstream.size(), chunkSize);
        CachedRevision revision = new CachedRevision(id, upstream, dir, chunkSize, data, new BitSet(count),
                new int[count], true);
        synchronized (revision) {
            revision.dirty = true;
        }
        revision.persistState();
        return revision;
    }

    /**
     * A revision the cache could not create on disk (full, read-only, gone): nothing is ever
     * present and every store fails, so each read is served pass-through from the upstream.
     */
    static CachedRevision uncached(String id, UpstreamRevision upstream, int chunkSize) {
        int count = chunkCount(upstream.size(), chunkSize);
        return new CachedRevision(id, upstream, null, chunkSize, null, new BitSet(count), new int[count], true);
    }

    /** False for a revision served pass-through because the cache could not create it. */
    public boolean onDisk() {
        return data != null;
    }

    /**
     * Opens a revision persisted in {@code dir}. A state file that is unreadable or describes a
     * different layout is treated as empty: the chunks are fetched again rather than trusted.
     *
     * @param verified false after an unclean shutdown: every present chunk is checked before use
     */
    static CachedRevision open(String id, UpstreamRevision upstream, Path dir, boolean verified) throws IOException {
        byte[] state = Files.readAllBytes(dir.resolve(STATE_FILE));
        int chunkSize;
        BitSet present;
        int[] checksums;
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(state))) {
            if (in.readInt() != STATE_MAGIC || in.readInt() != STATE_VERSION) {
                throw new IOException("not a branchboot chunk state file");
            }
            chunkSize = in.readInt();
            int count = in.readInt();
            if (count != chunkCount(upstream.size(), chunkSize)) {
                throw new IOException("state for " + count + " chunks, image needs " + chunkCount(upstream.size(), chunkSize));
            }
            present = new BitSet(count);
            checksums = new int[count];
            CRC32C crc = new CRC32C();
            crc.update(state, 0, state.length - 4);
            for (int i = 0; i < count; i++) {
                present.set(i, in.readBoolean());
                checksums[i] = in.readInt();
            }
            if (in.readInt() != (int) crc.getValue()) {
                throw new IOException("state file checksum mismatch");
            }
        }
        FileChannel data = FileChannel.open(dir.resolve(DATA_FILE), StandardOpenOption.READ, StandardOpenOption.WRITE);
        return new CachedRevision(id, upstream, dir, chunkSize, data, present, checksums, verified);
    }

    /** The directory name of this revision in the cache. */
    public String id() {
        return id;
    }

    /** The revision as the upstream described it. */
    public UpstreamRevision upstream() {
        return upstream;
    }

    /** The sparse data file, readable at the image's own offsets for present chunks; {@code null} when not {@link #onDisk()}. */
    public Path dataFile() {
        return dir == null ? null : dir.resolve(DATA_FILE);
    }

    Path dir() {
        return dir;
    }

    /** Bytes per chunk (the last chunk may be shorter). */
    public int chunkSize() {
        return chunkSize;
    }

    /** Number of chunks of the image. */
    public int chunkCount() {
        return chunkCount;
    }

    /** The image's offset of chunk {@code chunk}. */
    public long chunkOffset(int chunk) {
        return (long) chunk * chunkSize;
    }

    /** The length of chunk {@code chunk}. */
    public int chunkLength(int chunk) {
        return (int) Math.min(chunkSize, upstream.size() - chunkOffset(chunk));
    }

    /** Whether chunk {@code chunk} is cached (its bytes durable and checked). */
    public synchronized boolean isPresent(int chunk) {
        return present.get(chunk);
    }

    /** Whether every chunk touching bytes {@code first..last} (inclusive) is cached. */
    public synchronized boolean allPresent(long first, long last) {
        int from = (int) (first / chunkSize);
        int to = (int) (last / chunkSize);
        return present.nextClearBit(from) > to;
    }

    /** Number of cached chunks. */
    public synchronized int presentChunks() {
        return present.cardinality();
    }

    /** Bytes cached (whole chunks, the last one at its real length). */
    public synchronized long cachedBytes() {
        long bytes = (long) present.cardinality() * chunkSize;
        if (chunkCount > 0 && present.get(chunkCount - 1)) {
            bytes -= chunkSize - chunkLength(chunkCount - 1);
        }
        return bytes;
    }

    /** Records a use, for least-recently-used eviction. */
    void touch() {
        lastUsedMillis = System.currentTimeMillis();
    }

    /**
     * Starts a use (a response being sent, a replication running): the revision is not evicted
     * until {@link #release()}.
     *
     * @return false when the revision was evicted already, so the caller must look it up again
     */
    public boolean acquire() {
        users.incrementAndGet();
        touch();
        if (evicted) {
            users.decrementAndGet();
            return false;
        }
        return true;
    }

    /** Ends a use begun by {@link #acquire()}. */
    public void release() {
        users.decrementAndGet();
        touch();
    }

    /** Whether a response or replication uses the revision now. */
    public boolean inUse() {
        return users.get() > 0;
    }

    /** Marks the revision evicted if nobody uses it; the caller then deletes its files. */
    synchronized boolean markEvicted() {
        if (users.get() > 0) {
            return false;
        }
        evicted = true;
        // A use that raced with us sees the flag and backs out.
        if (users.get() > 0) {
            evicted = false;
            return false;
        }
        return true;
    }

    /** When the revision was last read. */
    public long lastUsedMillis() {
        return lastUsedMillis;
    }

    /** False until every present chunk has been checked after an unclean shutdown. */
    boolean verified() {
        return verified;
    }

    /**
     * Stores chunk {@code chunk}: writes it, forces it to disk, then marks it present with its
     * checksum. The caller checked that {@code bytes} is exactly the chunk of this revision.
     */
    void store(int chunk, byte[] bytes) throws IOException {
        if (data == null) {
            throw new IOException("revision " + id + " of image '" + upstream.name() + "' could not be created in the cache");
        }
        if (bytes.length != chunkLength(chunk)) {
            throw new IllegalArgumentException("chunk " + chunk + " of " + id + " needs " + chunkLength(chunk)
                    + " bytes, got " + bytes.length);
        }
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        long offset = chunkOffset(chunk);
        while (buffer.hasRemaining()) {
            data.write(buffer, offset + buffer.position());
        }
        // Durable before marked: the mark may reach the state file at any moment after this.
        data.force(false);
        CRC32C crc = new CRC32C();
        crc.update(bytes);
        synchronized (this) {
            checksums[chunk] = (int) crc.getValue();
            present.set(chunk);
            dirty = true;
        }
    }

    /** Reads chunk {@code chunk} from the data file (whatever is there, present or not). */
    byte[] read(int chunk) throws IOException {
        if (data == null) {
            throw new IOException("revision " + id + " of image '" + upstream.name() + "' is not in the cache");
        }
        ByteBuffer buffer = ByteBuffer.allocate(chunkLength(chunk));
        long offset = chunkOffset(chunk);
        while (buffer.hasRemaining()) {
            if (data.read(buffer, offset + buffer.position()) < 0) {
                throw new IOException("data file of revision " + id + " ends before chunk " + chunk + " does");
            }
        }
        return buffer.array();
    }

    /**
     * Checks present chunk {@code chunk} against its checksum; a chunk that fails is dropped (marked
     * absent, so the next read fetches it again).
     *
     * @return false when the chunk was present and wrong
     */
    boolean verify(int chunk) throws IOException {
        int expected;
        synchronized (this) {
            if (!present.get(chunk)) {
                return true;
            }
            expected = checksums[chunk];
        }
        byte[] bytes;
        try {
            bytes = read(chunk);
        } catch (IOException e) {
            bytes = null;
        }
        CRC32C crc = new CRC32C();
        if (bytes != null) {
            crc.update(bytes);
        }
        if (bytes != null && (int) crc.getValue() == expected) {
            return true;
        }
        drop(chunk);
        return false;
    }

    /** Marks chunk {@code chunk} absent. */
    synchronized void drop(int chunk) {
        present.clear(chunk);
        dirty = true;
    }

    /** Marks the revision checked after an unclean shutdown. */
    void markVerified() {
        verified = true;
    }

    /** Writes the state file if anything changed since the last write: temporary file, fsync, atomic rename. */
    void persistState() throws IOException {
        if (dir == null) {
            return;
        }
        synchronized (persistLock) {
            persistStateLocked();
        }
    }

    private void persistStateLocked() throws IOException {
        byte[] state;
        synchronized (this) {
            if (!dirty) {
                return;
            }
            ByteArrayOutputStream bytes = new ByteArrayOutputStream(16 + chunkCount * 5 + 4);
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                out.writeInt(STATE_MAGIC);
                out.writeInt(STATE_VERSION);
                out.writeInt(chunkSize);
                out.writeInt(chunkCount);
                for (int i = 0; i < chunkCount; i++) {
                    out.writeBoolean(present.get(i));
                    out.writeInt(checksums[i]);
                }
            }
            state = bytes.toByteArray();
            dirty = false;
        }
        CRC32C crc = new CRC32C();
        crc.update(state);
        ByteBuffer withChecksum = ByteBuffer.allocate(state.length + 4).put(state).putInt((int) crc.getValue()).flip();
        Path temporary = dir.resolve(STATE_FILE + ".tmp");
        try (FileChannel out = FileChannel.open(temporary, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (withChecksum.hasRemaining()) {
                out.write(withChecksum);
            }
            out.force(true);
        } catch (IOException e) {
            synchronized (this) {
                dirty = true;
            }
            throw e;
        }
        Files.move(temporary, dir.resolve(STATE_FILE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        ChunkStore.forceDirectory(dir);
    }

    /** Closes the data file. */
    void close() throws IOException {
        if (data != null) {
            data.close();
        }
    }
}
