package dev.branchboot.server.cache;

import dev.branchboot.server.upstream.UpstreamRevision;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;
import org.roaringbitmap.RoaringBitmap;

/**
 * One cached revision of one image, in its own directory:
 * <ul>
 * <li>{@code data}: a sparse file holding the image's bytes at their own offsets;</li>
 * <li>{@code sums}: the CRC32C of every block of {@link #blockSize()} bytes, four bytes per block at
 * {@code block * 4};</li>
 * <li>{@code presence}: which blocks are cached, as a compressed bitmap (a run of a million
 * present blocks costs a few bytes), with a checksum of its own.</li>
 * </ul>
 *
 * <p>Blocks are small (the default is 4 KiB) so that what a client reads decides what is fetched:
 * a booting PC's scattered reads of compressed clusters pull about the bytes they ask for, where a
 * fixed 1 MiB unit pulled 2.2 times as much. How much is fetched at once is the
 * {@link CacheFiller}'s business; this class only stores and checks what it is given.
 *
 * <p>Durability order, so a crash never leaves a block marked present with wrong bytes: the bytes
 * are written to {@code data} and forced to disk (one {@code fdatasync} shared by every store that
 * finished writing before it began, see {@link SyncBarrier}); then their checksums are written;
 * only then are the blocks marked present in memory. The presence file is rewritten later, in
 * batches ({@link #persistState()}): {@code sums} is forced first, then the bitmap goes to a
 * temporary file that is forced and renamed over the old one. The persisted bitmap therefore only
 * ever names blocks whose bytes and checksums were durable before it was written; a crash loses
 * at most the marks of the last moments, and those blocks are fetched again.
 *
 * <p>Every read for a client ({@link #readChecked}) checks each block it touches against its
 * checksum, and with a trust key against the signed manifest once per process: a byte changed on
 * disk while the branch was stopped, or by a disk that rots under a running branch, is dropped
 * and fetched again, never sent.
 */
public final class CachedRevision {
    static final String DATA_FILE = "data";
    static final String SUMS_FILE = "sums";
    static final String PRESENCE_FILE = "presence";
    private static final int PRESENCE_MAGIC = 0x42425052; // "BBPR"
    private static final int PRESENCE_VERSION = 2;

    private final String id;
    private final UpstreamRevision upstream;
    private final Path dir;
    private final int blockSize;
    private final int blockShift;
    private final int blockCount;
    private final FileChannel data;
    private final FileChannel sums;
    private final SyncBarrier dataSync;
    /** Guarded by {@code this}. */
    private final RoaringBitmap present;
    /** Guarded by {@code this}: the bitmap changed since the presence file was written. */
    private boolean dirty;
    /**
     * Guarded by {@code this}: blocks whose bytes were checked against the signed manifest by this
     * process (fetched bytes are checked before they are stored; cached ones at their first read),
     * so that later reads check only their checksums. Never persisted: a restart checks again.
     */
    private final RoaringBitmap vouched = new RoaringBitmap();
    /** One state writer at a time: they share the temporary file. */
    private final Object persistLock = new Object();
    /**
     * One write to the data file at a time. Buffered writes to one file take its inode lock in
     * turn anyway; waiting here rather than in the kernel spares the CPU the kernel spends spinning
     * on that lock (a cold fill used about a fifth less CPU, docs/benchmarks.md).
     */
    private final Object writeLock = new Object();
    private volatile boolean verified;
    private volatile long lastUsedMillis = System.currentTimeMillis();
    /** Responses and replications using the revision now: eviction leaves it alone while non-zero. */
    private final AtomicInteger users = new AtomicInteger();
    private volatile boolean evicted;
    /** The upstream fetches of this revision that are running now. */
    final InFlightFetches inFlight = new InFlightFetches();

    private CachedRevision(String id, UpstreamRevision upstream, Path dir, int blockSize, FileChannel data, FileChannel sums,
            RoaringBitmap present, boolean verified) {
        this.id = id;
        this.upstream = upstream;
        this.dir = dir;
        this.blockSize = blockSize;
        this.blockShift = Integer.numberOfTrailingZeros(blockSize);
        this.blockCount = blockCount(upstream.size(), blockSize);
        this.data = data;
        this.sums = sums;
        this.dataSync = data == null ? null : new SyncBarrier(data);
        this.present = present;
        this.verified = verified;
    }

    /**
     * The number of blocks of an image of {@code size} bytes.
     *
     * @throws IllegalArgumentException when there are more than {@link Integer#MAX_VALUE} (1 TiB at
     *                                  512-byte blocks, 8 TiB at 4 KiB)
     */
    static int blockCount(long size, int blockSize) {
        long count = (size + blockSize - 1) / blockSize;
        if (count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("an image of " + size + " bytes has more than " + Integer.MAX_VALUE
                    + " blocks of " + blockSize + " bytes; raise branchboot.cache.block-size");
        }
        return (int) count;
    }

    /** Creates an empty revision in {@code dir}: a sparse data file of the image's length, no block present. */
    static CachedRevision create(String id, UpstreamRevision upstream, Path dir, int blockSize) throws IOException {
        int count = blockCount(upstream.size(), blockSize);
        Files.createDirectories(dir);
        try (RandomAccessFile file = new RandomAccessFile(dir.resolve(DATA_FILE).toFile(), "rw")) {
            file.setLength(upstream.size());
        }
        try (RandomAccessFile file = new RandomAccessFile(dir.resolve(SUMS_FILE).toFile(), "rw")) {
            file.setLength(4L * count);
        }
        CachedRevision revision = new CachedRevision(id, upstream, dir, blockSize, openReadWrite(dir.resolve(DATA_FILE)),
                openReadWrite(dir.resolve(SUMS_FILE)), new RoaringBitmap(), true);
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
    static CachedRevision uncached(String id, UpstreamRevision upstream, int blockSize) {
        return new CachedRevision(id, upstream, null, blockSize, null, null, new RoaringBitmap(), true);
    }

    /**
     * Opens a revision persisted in {@code dir}.
     *
     * @param verified false after an unclean shutdown: every present block is checked before use
     * @throws IOException when the presence file is missing, damaged or describes another layout;
     *                     the caller then starts the revision over rather than trust it
     */
    static CachedRevision open(String id, UpstreamRevision upstream, Path dir, int blockSize, boolean verified)
            throws IOException {
        ByteBuffer state = ByteBuffer.wrap(Files.readAllBytes(dir.resolve(PRESENCE_FILE)));
        if (state.remaining() < 24) {
            throw new IOException("presence file of " + state.remaining() + " bytes is too short");
        }
        CRC32C crc = new CRC32C();
        crc.update(state.array(), 0, state.limit() - 4);
        if (state.getInt(state.limit() - 4) != (int) crc.getValue()) {
            throw new IOException("presence file checksum mismatch");
        }
        if (state.getInt() != PRESENCE_MAGIC || state.getInt() != PRESENCE_VERSION) {
            throw new IOException("not a branchboot presence file of version " + PRESENCE_VERSION);
        }
        int storedBlockSize = state.getInt();
        long storedSize = state.getLong();
        if (storedBlockSize != blockSize || storedSize != upstream.size()) {
            throw new IOException("presence for " + storedSize + " bytes in blocks of " + storedBlockSize + ", expected "
                    + upstream.size() + " in blocks of " + blockSize);
        }
        RoaringBitmap present = new RoaringBitmap();
        present.deserialize(state.slice(state.position(), state.limit() - 4 - state.position()));
        int count = blockCount(upstream.size(), blockSize);
        if (!present.isEmpty() && present.last() >= count) {
            throw new IOException("presence names block " + present.last() + " of " + count);
        }
        if (Files.size(dir.resolve(SUMS_FILE)) < 4L * count) {
            throw new IOException("the checksum file is shorter than " + count + " blocks need");
        }
        return new CachedRevision(id, upstream, dir, blockSize, openReadWrite(dir.resolve(DATA_FILE)),
                openReadWrite(dir.resolve(SUMS_FILE)), present, verified);
    }

    private static FileChannel openReadWrite(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    /** False for a revision served pass-through because the cache could not create it. */
    public boolean onDisk() {
        return data != null;
    }

    /** The directory name of this revision in the cache. */
    public String id() {
        return id;
    }

    /** The revision as the upstream described it. */
    public UpstreamRevision upstream() {
        return upstream;
    }

    /** The image's length in bytes. */
    public long size() {
        return upstream.size();
    }

    /** The sparse data file, readable at the image's own offsets for present blocks; {@code null} when not {@link #onDisk()}. */
    public Path dataFile() {
        return dir == null ? null : dir.resolve(DATA_FILE);
    }

    Path dir() {
        return dir;
    }

    /** Bytes per block, the unit of presence and checksums (the last block may be shorter). */
    public int blockSize() {
        return blockSize;
    }

    /** Number of blocks of the image. */
    public int blockCount() {
        return blockCount;
    }

    /** The first byte of the block holding {@code offset}. */
    long blockStart(long offset) {
        return offset >> blockShift << blockShift;
    }

    /** The end of the block holding {@code offset - 1}: {@code offset} rounded up to a block, at most the image's size. */
    long blockEnd(long offset) {
        return Math.min(size(), (offset + blockSize - 1) >> blockShift << blockShift);
    }

    /** Whether every block touching bytes {@code first..last} (inclusive) is cached. */
    public synchronized boolean allPresent(long first, long last) {
        return present.contains(first >> blockShift, (last >> blockShift) + 1);
    }

    /** Whether any block touching {@code [offset, offset + length)} is cached. */
    synchronized boolean anyPresent(long offset, long length) {
        return present.intersects(offset >> blockShift, ((offset + length - 1) >> blockShift) + 1);
    }

    /** Whether the block holding byte {@code offset} is cached. */
    public synchronized boolean isPresent(long offset) {
        return present.contains((int) (offset >> blockShift));
    }

    /** The end of the run of cached blocks that holds byte {@code offset} (which must be cached). */
    synchronized long presentRunEnd(long offset) {
        long next = present.nextAbsentValue((int) (offset >> blockShift));
        return next < 0 ? size() : Math.min(size(), next << blockShift);
    }

    /** The first byte at or after {@code offset} whose block is cached, or the image's size when none is. */
    synchronized long nextPresent(long offset) {
        long next = present.nextValue((int) (offset >> blockShift));
        return next < 0 ? size() : Math.max(offset, next << blockShift);
    }

    /** Number of cached blocks. */
    public synchronized long presentBlocks() {
        return present.getLongCardinality();
    }

    /** Whether every block is cached. */
    public synchronized boolean complete() {
        return present.getLongCardinality() == blockCount;
    }

    /** Bytes cached (whole blocks, the last one at its real length). */
    public synchronized long cachedBytes() {
        long bytes = present.getLongCardinality() << blockShift;
        if (blockCount > 0 && present.contains(blockCount - 1)) {
            bytes -= ((long) blockCount << blockShift) - size();
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

    /** Whether the revision was evicted: its files are gone, and the name must be looked up again. */
    public boolean evicted() {
        return evicted;
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

    /** False until every present block has been checked after an unclean shutdown. */
    public boolean verified() {
        return verified;
    }

    /** Marks the block holding {@code offset} absent, so the next read fetches it again. */
    void drop(long offset) {
        synchronized (this) {
            vouched.remove((int) (offset >> blockShift));
            if (present.checkedRemove((int) (offset >> blockShift))) {
                dirty = true;
            }
        }
    }

    /** Marks the revision checked after an unclean shutdown. */
    void markVerified() {
        verified = true;
    }

    /**
     * Stores {@code bytes} at {@code offset}: writes them, forces them to disk, writes their
     * checksums, then marks their blocks present. {@code offset} starts a block and the bytes end
     * at a block's end or at the image's end; the caller checked that they are exactly this
     * revision's bytes there.
     */
    void store(long offset, byte[] bytes) throws IOException {
        if (data == null) {
            throw new IOException("revision " + id + " of image '" + upstream.name() + "' could not be created in the cache");
        }
        long end = offset + bytes.length;
        if (blockStart(offset) != offset || (blockStart(end) != end && end != size()) || end > size()) {
            throw new IllegalArgumentException("bytes " + offset + ".." + (end - 1) + " of revision " + id
                    + " are not whole blocks of " + blockSize);
        }
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        synchronized (writeLock) {
            while (buffer.hasRemaining()) {
                data.write(buffer, offset + buffer.position());
            }
        }
        // Durable before marked: the mark may reach the presence file at any moment after this.
        dataSync.awaitDurable(dataSync.writeFinished());
        markStored(offset, bytes);
    }

    /** Writes the checksums of {@code bytes}, durable at {@code offset}, and marks their blocks present. */
    private void markStored(long offset, byte[] bytes) throws IOException {
        int firstBlock = (int) (offset >> blockShift);
        int blocks = (int) ((bytes.length + blockSize - 1) >> blockShift);
        ByteBuffer checksums = ByteBuffer.allocate(4 * blocks);
        CRC32C crc = new CRC32C();
        for (int i = 0; i < blocks; i++) {
            crc.reset();
            crc.update(bytes, i << blockShift, Math.min(blockSize, bytes.length - (i << blockShift)));
            checksums.putInt((int) crc.getValue());
        }
        checksums.flip();
        while (checksums.hasRemaining()) {
            sums.write(checksums, 4L * firstBlock + checksums.position());
        }
        synchronized (this) {
            present.add((long) firstBlock, (long) firstBlock + blocks);
            dirty = true;
        }
    }

    /**
     * Marks the blocks of {@code [offset, offset + length)} as checked against the signed manifest
     * by this process: a fetch's bytes, which were checked before they were stored.
     */
    void vouchFor(long offset, long length) {
        synchronized (this) {
            vouched.add(offset >> blockShift, ((offset + length - 1) >> blockShift) + 1);
        }
    }

    /**
     * Marks {@code bytes}, already durable in the data file at {@code offset} and checked by the
     * caller, present: writes their checksums only. For the migration of an earlier cache format.
     */
    void adoptDurable(long offset, byte[] bytes) throws IOException {
        markStored(offset, bytes);
    }

    /** Reads {@code length} bytes at {@code offset} from the data file (whatever is there, present or not). */
    ByteBuffer read(long offset, int length) throws IOException {
        if (data == null) {
            throw new IOException("revision " + id + " of image '" + upstream.name() + "' is not in the cache");
        }
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (data.read(buffer, offset + buffer.position()) < 0) {
                throw new IOException("data file of image '" + upstream.name() + "' revision " + upstream.etag() + " ends at "
                        + (offset + buffer.position()));
            }
        }
        return buffer.flip();
    }

    /**
     * Bytes {@code [offset, offset + length)} for a client, each block they touch read whole from
     * the data file and checked against its checksum and, with a {@code verifier} (the trust key's
     * signed manifest), against the manifest unless this process checked the block before. Every
     * block touched must be present. Blocks that fail are dropped (the next plan fetches them) and
     * the read fails.
     *
     * @throws CachedBytesCorruptedException naming the image, the revision and the blocks that failed
     * @throws IOException                   when the data or checksum file cannot be read
     */
    ByteBuffer readChecked(long offset, int length, dev.branchboot.integrity.ImageVerifier verifier) throws IOException {
        long start = blockStart(offset);
        long end = blockEnd(offset + length);
        ByteBuffer bytes = ByteBuffer.allocate((int) (end - start));
        readBlocksChecked(start, bytes.duplicate());
        if (verifier != null) {
            int firstBlock = (int) (start >> blockShift);
            int blocks = (int) ((end - start + blockSize - 1) >> blockShift);
            long[] failed = new long[blocks];
            int failures = 0;
            for (int i = 0; i < blocks; i++) {
                if (isVouchedFor(firstBlock + i)) {
                    continue;
                }
                int from = i << blockShift;
                int to = Math.min(bytes.limit(), from + blockSize);
                try {
                    verifier.verify(start + from, bytes.slice(from, to - from));
                    synchronized (this) {
                        vouched.add(firstBlock + i);
                    }
                } catch (dev.branchboot.integrity.ManifestException e) {
                    failed[failures++] = start + from;
                }
            }
            if (failures > 0) {
                throw dropped(java.util.Arrays.copyOf(failed, failures), "signed manifest");
            }
        }
        return bytes.position((int) (offset - start)).limit((int) (offset - start + length)).slice();
    }

    /**
     * Reads the whole blocks from {@code start} (a block's first byte) into {@code target}, from its
     * position to its limit (whole blocks, or to the image's end), and checks each against its
     * checksum. Every block must be present. Blocks that fail are dropped (the next plan fetches
     * them) and the read fails.
     *
     * @throws CachedBytesCorruptedException naming the image, the revision and the blocks that failed
     * @throws IOException                   when the data or checksum file cannot be read
     */
    public void readBlocksChecked(long start, ByteBuffer target) throws IOException {
        if (data == null) {
            throw new IOException("revision " + id + " of image '" + upstream.name() + "' is not in the cache");
        }
        int length = target.remaining();
        int firstBlock = (int) (start >> blockShift);
        int blocks = (int) ((length + blockSize - 1) >> blockShift);
        ByteBuffer expected = ByteBuffer.allocate(4 * blocks);
        while (expected.hasRemaining()) {
            if (sums.read(expected, 4L * firstBlock + expected.position()) < 0) {
                throw new IOException("the checksum file of image '" + upstream.name() + "' revision " + upstream.etag()
                        + " ends before block " + (firstBlock + expected.position() / 4));
            }
        }
        ByteBuffer bytes = target.duplicate();
        int base = bytes.position();
        while (bytes.hasRemaining()) {
            if (data.read(bytes, start + bytes.position() - base) < 0) {
                throw new IOException("data file of image '" + upstream.name() + "' revision " + upstream.etag() + " ends at "
                        + (start + bytes.position() - base));
            }
        }
        CRC32C crc = new CRC32C();
        long[] failed = null;
        int failures = 0;
        for (int i = 0; i < blocks; i++) {
            int from = i << blockShift;
            int to = Math.min(length, from + blockSize);
            crc.reset();
            crc.update(target.slice(base + from, to - from));
            if ((int) crc.getValue() != expected.getInt(4 * i)) {
                if (failed == null) {
                    failed = new long[blocks];
                }
                failed[failures++] = start + from;
            }
        }
        if (failures > 0) {
            throw dropped(java.util.Arrays.copyOf(failed, failures), "checksum");
        }
    }

    /** Bytes checked per read of {@link #verifyPresent}: large enough for sequential disk reads. */
    private static final int VERIFY_STEP = 1 << 20;
    /** A verify buffer per thread: the checks read into it, nothing is kept. */
    private static final ThreadLocal<ByteBuffer> VERIFY_BUFFER = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(VERIFY_STEP));

    /**
     * Checks the blocks holding bytes {@code first..last}, all present, against their checksums,
     * reading them a MiB at a time into a buffer of the thread's own: for a response that then
     * sends them from the file with {@code sendfile}, so that they were checked moments before the
     * kernel sends them from its page cache.
     *
     * @throws CachedBytesCorruptedException naming the blocks that failed (dropped already)
     * @throws IOException                   when the data or checksum file cannot be read
     */
    public void verifyPresent(long first, long last) throws IOException {
        ByteBuffer buffer = VERIFY_BUFFER.get();
        long end = blockEnd(last + 1);
        for (long at = blockStart(first); at < end; at += VERIFY_STEP) {
            buffer.clear().limit((int) Math.min(VERIFY_STEP, end - at));
            readBlocksChecked(at, buffer);
        }
    }

    private CachedBytesCorruptedException dropped(long[] offsets, String check) {
        for (long at : offsets) {
            drop(at);
        }
        return new CachedBytesCorruptedException(upstream, blockSize, offsets, check);
    }

    /** Whether every block touching bytes {@code first..last} was checked against the signed manifest by this process. */
    public synchronized boolean allVouchedFor(long first, long last) {
        return vouched.contains(first >> blockShift, (last >> blockShift) + 1);
    }

    /** The first byte of the block holding {@code offset}. */
    public long blockStartOf(long offset) {
        return blockStart(offset);
    }

    /** The end of the block holding {@code offset - 1}: {@code offset} rounded up to a block, at most the image's size. */
    public long blockEndOf(long offset) {
        return blockEnd(offset);
    }

    private synchronized boolean isVouchedFor(int block) {
        return vouched.contains(block);
    }

    /**
     * Checks the present blocks among {@code [offset, offset + length)} (whole blocks; at most
     * 64 MiB at once) against their checksums and drops those that fail, so the next read fetches
     * them again.
     *
     * @return the offsets of the blocks dropped
     */
    long[] verify(long offset, int length) throws IOException {
        if (data == null) {
            return new long[0];
        }
        int firstBlock = (int) (offset >> blockShift);
        int blocks = (int) ((Math.min(length, size() - offset) + blockSize - 1) >> blockShift);
        synchronized (this) {
            if (!present.intersects(firstBlock, (long) firstBlock + blocks)) {
                return new long[0];
            }
        }
        ByteBuffer bytes = read(offset, (int) Math.min(length, size() - offset));
        ByteBuffer expected = ByteBuffer.allocate(4 * blocks);
        while (expected.hasRemaining()) {
            if (sums.read(expected, 4L * firstBlock + expected.position()) < 0) {
                break;
            }
        }
        long[] dropped = new long[blocks];
        int droppedCount = 0;
        CRC32C crc = new CRC32C();
        synchronized (this) {
            for (int i = 0; i < blocks; i++) {
                if (!present.contains(firstBlock + i)) {
                    continue;
                }
                crc.reset();
                int from = i << blockShift;
                crc.update(bytes.array(), from, Math.min(blockSize, bytes.limit() - from));
                if ((int) crc.getValue() != expected.getInt(4 * i)) {
                    present.remove(firstBlock + i);
                    dirty = true;
                    dropped[droppedCount++] = (long) (firstBlock + i) << blockShift;
                }
            }
        }
        return java.util.Arrays.copyOf(dropped, droppedCount);
    }

    /**
     * Writes the presence file if anything changed since the last write: the checksums forced
     * first, then a temporary file, forced, renamed over the old one.
     */
    void persistState() throws IOException {
        if (dir == null) {
            return;
        }
        synchronized (persistLock) {
            RoaringBitmap snapshot;
            synchronized (this) {
                if (!dirty) {
                    return;
                }
                snapshot = present.clone();
                dirty = false;
            }
            try {
                // Every block in the snapshot had its checksum written before it was marked.
                sums.force(false);
                snapshot.runOptimize();
                ByteArrayOutputStream bytes = new ByteArrayOutputStream(32 + snapshot.serializedSizeInBytes());
                try (DataOutputStream out = new DataOutputStream(bytes)) {
                    out.writeInt(PRESENCE_MAGIC);
                    out.writeInt(PRESENCE_VERSION);
                    out.writeInt(blockSize);
                    out.writeLong(size());
                    snapshot.serialize(out);
                }
                CRC32C crc = new CRC32C();
                crc.update(bytes.toByteArray());
                new DataOutputStream(bytes).writeInt((int) crc.getValue());
                CacheFiles.writeAtomically(dir.resolve(PRESENCE_FILE), bytes.toByteArray());
            } catch (IOException | RuntimeException e) {
                synchronized (this) {
                    dirty = true;
                }
                throw e;
            }
        }
    }

    /** Closes the data and checksum files. */
    void close() throws IOException {
        if (data != null) {
            try {
                data.close();
            } finally {
                sums.close();
            }
        }
    }
}
