package dev.branchboot.qcow2;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.DataFormatException;

/**
 * One QCOW2 layer (its active L1 table) over a {@link ByteSource}, with the layer below it for
 * unallocated ranges. Thread-safe: any number of reads may run at once.
 *
 * <p>The read path maps a virtual range to runs of one kind — host-contiguous data, one compressed
 * cluster, zeros, or unallocated — so that each run costs one source read, one decompression, a
 * fill, or one read of the backing layer. Compressed clusters of one request whose stored bytes lie
 * close together are fetched with one source read and then decompressed, in parallel when an
 * executor is configured. L2 tables and partly used decompressed clusters are cached, bounded by
 * {@link ImageOptions}.
 */
public final class Qcow2Image implements VirtualDisk {
    /** Bits 9..55 of L1 and standard L2 entries: a cluster-aligned host offset. */
    private static final long OFFSET_MASK = 0x00FFFFFFFFFFFE00L;
    private static final long COMPRESSED_FLAG = 1L << 62;
    private static final long ZERO_FLAG = 1L;
    /** Stored compressed clusters further apart than this are fetched with separate reads. */
    private static final int COALESCE_GAP = 8 * 1024;
    /** The largest single source read for a batch of compressed clusters. */
    private static final int MAX_BATCH_READ = 8 << 20;

    private static final int CORES = Runtime.getRuntime().availableProcessors();

    private static final int RUN_DATA = 0;
    private static final int RUN_COMPRESSED = 1;
    private static final int RUN_ZERO = 2;
    private static final int RUN_UNALLOCATED = 3;

    private final ByteSource source;
    private final String name;
    private final Qcow2Header header;
    private final long fileSize;
    private final VirtualDisk backing;
    private final long[] l1;
    private final int clusterBits;
    private final int clusterSize;
    private final int l2Bits;
    private final boolean extended;
    private final int subclusterBits;
    private final int compressedSizeShift;
    private final long compressedSizeMask;
    private final long compressedOffsetMask;
    private final ClusterDecompressor decompressor;
    private final Executor decompressExecutor;
    private final ReadStatistics statistics;
    private final WeightedLruCache<Long, long[]> l2Tables;
    private final ClusterCache clusters;
    /** Reads decompressing clusters right now, which decide whether helpers are worth waking. */
    private final AtomicInteger readsDecompressing = new AtomicInteger();

    Qcow2Image(ByteSource source, Qcow2Header header, VirtualDisk backing, ImageOptions options) throws IOException {
        this.source = source;
        this.name = source.name();
        this.header = header;
        this.fileSize = source.size();
        this.backing = backing;
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.l2Bits = header.l2Bits();
        this.extended = header.extendedL2();
        this.subclusterBits = clusterBits - 5; // 32 subclusters per cluster
        this.compressedSizeShift = 62 - (clusterBits - 8);
        this.compressedSizeMask = (1L << (clusterBits - 8)) - 1;
        this.compressedOffsetMask = (1L << compressedSizeShift) - 1;
        this.decompressor = ClusterDecompressor.of(header.compressionType());
        this.decompressExecutor = options.decompressExecutor();
        // Counting into a private instance when none is given keeps the hot path free of null checks.
        this.statistics = options.statistics() != null ? options.statistics() : new ReadStatistics();
        this.l1 = readL1();
        this.l2Tables = new WeightedLruCache<>(Math.max(options.l2CacheBytes(), clusterSize), table -> table.length * 8);
        this.clusters = new ClusterCache(options.clusterCacheBytes(), clusterSize);
        this.clusters.prepareInBackground();
    }

    private long[] readL1() throws IOException {
        long needed = header.virtualSize() == 0 ? 0 : (header.virtualSize() - 1) / header.bytesPerL2Table() + 1;
        long[] table = new long[(int) needed];
        if (needed > 0) {
            ByteBuffer buffer = ByteBuffer.allocate((int) needed * 8);
            source.readFully(header.l1TableOffset(), buffer);
            buffer.flip().asLongBuffer().get(table);
        }
        return table;
    }

    /** The cluster size. */
    @Override
    public long allocationUnit() {
        return header.clusterSize();
    }

    /** The parsed header of this layer. */
    public Qcow2Header header() {
        return header;
    }

    /** The layer below this one, or {@code null}. */
    @Override
    public VirtualDisk backing() {
        return backing;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() {
        return header.virtualSize();
    }

    // ---------------------------------------------------------------------------------------------
    // Mapping virtual ranges to runs

    /** Receives the runs a virtual range maps to, in order. */
    private interface RunSink {
        void accept(int kind, long virtualOffset, long length, long host) throws IOException;
    }

    /** Merges adjacent granules of the same kind (and contiguous host data) into one run. */
    private static final class RunMerger {
        private final RunSink sink;
        private int kind = -1;
        private long start;
        private long length;
        private long host;

        RunMerger(RunSink sink) {
            this.sink = sink;
        }

        void add(int newKind, long offset, long len, long newHost) throws IOException {
            if (newKind == kind && newKind != RUN_COMPRESSED && start + length == offset
                    && (newKind != RUN_DATA || host + length == newHost)) {
                length += len;
                return;
            }
            flush();
            kind = newKind;
            start = offset;
            length = len;
            host = newHost;
        }

        void flush() throws IOException {
            if (kind >= 0) {
                sink.accept(kind, start, length, host);
                kind = -1;
            }
        }
    }

    private void mapRange(long offset, long length, RunSink sink) throws IOException {
        RunMerger merger = new RunMerger(sink);
        long end = offset + length;
        long pos = offset;
        int tableShift = clusterBits + l2Bits;
        int l2Mask = (1 << l2Bits) - 1;
        while (pos < end) {
            long l1Index = pos >>> tableShift;
            long tableEnd = Math.min(end, (l1Index + 1) << tableShift);
            long l1Entry = l1Index < l1.length ? l1[(int) l1Index] : 0;
            long l2Offset = l1Entry & OFFSET_MASK;
            if (l2Offset == 0) {
                merger.add(RUN_UNALLOCATED, pos, tableEnd - pos, 0);
                pos = tableEnd;
                continue;
            }
            long[] table = l2Table(l2Offset, header.l1TableOffset() + l1Index * 8);
            while (pos < tableEnd) {
                long cluster = pos >>> clusterBits;
                int index = (int) (cluster & l2Mask);
                long clusterStart = cluster << clusterBits;
                long clusterEnd = Math.min(clusterStart + clusterSize, tableEnd);
                long entryOffset = l2Offset + (long) index * (extended ? 16 : 8);
                long entry = table[extended ? 2 * index : index];
                if ((entry & COMPRESSED_FLAG) != 0) {
                    if (extended && table[2 * index + 1] != 0) {
                        throw corrupt(entryOffset, "compressed cluster with a non-zero subcluster bitmap");
                    }
                    merger.add(RUN_COMPRESSED, pos, clusterEnd - pos, entry);
                } else if (!extended) {
                    long host = entry & OFFSET_MASK;
                    if ((entry & ZERO_FLAG) != 0) {
                        if (header.version() == 2) {
                            throw corrupt(entryOffset, "zero cluster flag in a version 2 image");
                        }
                        merger.add(RUN_ZERO, pos, clusterEnd - pos, 0);
                    } else if (host == 0) {
                        merger.add(RUN_UNALLOCATED, pos, clusterEnd - pos, 0);
                    } else {
                        checkDataCluster(host, entryOffset);
                        merger.add(RUN_DATA, pos, clusterEnd - pos, host + (pos - clusterStart));
                    }
                } else {
                    mapSubclusters(merger, entry, table[2 * index + 1], entryOffset, pos, clusterStart, clusterEnd);
                }
                pos = clusterEnd;
            }
        }
        merger.flush();
    }

    private void mapSubclusters(RunMerger merger, long entry, long bitmap, long entryOffset, long pos, long clusterStart,
                                long clusterEnd) throws IOException {
        long host = entry & OFFSET_MASK;
        long allocated = bitmap & 0xFFFFFFFFL;
        long zeros = bitmap >>> 32;
        if ((allocated & zeros) != 0) {
            throw corrupt(entryOffset, String.format("subcluster bitmap 0x%016x marks subclusters both allocated and zero", bitmap));
        }
        if (allocated != 0) {
            if (host == 0) {
                throw corrupt(entryOffset, "allocated subclusters in a cluster without a host offset");
            }
            checkDataCluster(host, entryOffset);
        }
        int subclusterSize = 1 << subclusterBits;
        while (pos < clusterEnd) {
            int sub = (int) ((pos - clusterStart) >>> subclusterBits);
            long subEnd = Math.min(clusterStart + (long) (sub + 1) * subclusterSize, clusterEnd);
            if ((allocated >>> sub & 1) != 0) {
                merger.add(RUN_DATA, pos, subEnd - pos, host + (pos - clusterStart));
            } else if ((zeros >>> sub & 1) != 0) {
                merger.add(RUN_ZERO, pos, subEnd - pos, 0);
            } else {
                merger.add(RUN_UNALLOCATED, pos, subEnd - pos, 0);
            }
            pos = subEnd;
        }
    }

    private void checkDataCluster(long host, long entryOffset) throws CorruptImageException {
        if ((host & (clusterSize - 1)) != 0) {
            throw corrupt(entryOffset, "data cluster offset 0x" + Long.toHexString(host) + " is not cluster aligned");
        }
        checkNotMetadata(host, entryOffset, "data cluster");
        if (host >= fileSize) {
            throw corrupt(entryOffset, "data cluster at 0x" + Long.toHexString(host) + " lies past the end of the file ("
                    + fileSize + " bytes)");
        }
    }

    private void checkNotMetadata(long host, long entryOffset, String what) throws CorruptImageException {
        if (host < clusterSize) {
            throw corrupt(entryOffset, what + " at 0x" + Long.toHexString(host) + " points into the image header");
        }
        long l1Start = header.l1TableOffset();
        long l1End = l1Start + (long) l1.length * 8;
        if (host < l1End && host + clusterSize > l1Start && l1.length > 0) {
            throw corrupt(entryOffset, what + " at 0x" + Long.toHexString(host) + " points into the L1 table");
        }
    }

    private long[] l2Table(long l2Offset, long l1EntryOffset) throws IOException {
        if ((l2Offset & (clusterSize - 1)) != 0) {
            throw corrupt(l1EntryOffset, "L2 table offset 0x" + Long.toHexString(l2Offset) + " is not cluster aligned");
        }
        checkNotMetadata(l2Offset, l1EntryOffset, "L2 table");
        if (l2Offset + clusterSize > fileSize) {
            throw corrupt(l1EntryOffset, "L2 table at 0x" + Long.toHexString(l2Offset) + " lies past the end of the file ("
                    + fileSize + " bytes)");
        }
        long[] cached = l2Tables.get(l2Offset);
        statistics.l2Lookup(cached != null);
        if (cached != null) {
            return cached;
        }
        // Two threads missing the same table both read it; that is rarer and cheaper than a lock.
        ByteBuffer buffer = ByteBuffer.allocate(clusterSize).order(ByteOrder.BIG_ENDIAN);
        source.readFully(l2Offset, buffer);
        long[] entries = new long[clusterSize / 8];
        buffer.flip().asLongBuffer().get(entries);
        l2Tables.put(l2Offset, entries);
        return entries;
    }

    private CorruptImageException corrupt(long offset, String cause) {
        return new CorruptImageException(name, offset, cause);
    }

    // ---------------------------------------------------------------------------------------------
    // Reading

    /** One compressed cluster that a read needs, or part of it. */
    private record CompressedPiece(long entry, long host, int storedLength, int inCluster, int length, int dstIndex,
                                   long virtualOffset) {
        long storedEnd() {
            return host + storedLength;
        }
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        int length = dst.remaining();
        Ranges.check(name, offset, length, size());
        int base = dst.position();
        List<CompressedPiece> compressed = new ArrayList<>();
        mapRange(offset, length, (kind, virtualOffset, runLength, host) -> {
            int index = base + (int) (virtualOffset - offset);
            int len = (int) runLength;
            switch (kind) {
                case RUN_DATA -> source.readFully(host, dst.slice(index, len));
                case RUN_ZERO -> Ranges.zero(dst, index, len);
                case RUN_UNALLOCATED -> readBacking(virtualOffset, dst, index, len);
                default -> compressed.add(compressedPiece(host, virtualOffset, len, index));
            }
        });
        if (!compressed.isEmpty()) {
            readCompressed(compressed, dst);
        }
        dst.position(base + length);
    }

    private void readBacking(long virtualOffset, ByteBuffer dst, int index, int length) throws IOException {
        long fromBacking = backing == null ? 0 : Math.max(0, Math.min(length, backing.size() - virtualOffset));
        if (fromBacking > 0) {
            backing.read(virtualOffset, dst.slice(index, (int) fromBacking));
        }
        if (fromBacking < length) {
            Ranges.zero(dst, index + (int) fromBacking, length - (int) fromBacking);
        }
    }

    private CompressedPiece compressedPiece(long entry, long virtualOffset, int length, int dstIndex)
            throws CorruptImageException {
        long host = entry & compressedOffsetMask;
        long sectors = ((entry >>> compressedSizeShift) & compressedSizeMask) + 1;
        int stored = (int) (sectors * 512 - (host & 511));
        long entryVirtualCluster = virtualOffset >>> clusterBits;
        if (host < clusterSize || host >= fileSize) {
            throw corrupt(host, "compressed cluster for virtual offset " + (entryVirtualCluster << clusterBits)
                    + " points " + (host < clusterSize ? "into the image header" : "past the end of the file (" + fileSize + " bytes)"));
        }
        int inCluster = (int) (virtualOffset & (clusterSize - 1));
        return new CompressedPiece(entry, host, stored, inCluster, length, dstIndex, virtualOffset);
    }

    private void readCompressed(List<CompressedPiece> pieces, ByteBuffer dst) throws IOException {
        List<CompressedPiece> missing = new ArrayList<>(pieces.size());
        for (CompressedPiece piece : pieces) {
            if (clusters.read(piece.entry(), piece.inCluster(), dst, piece.dstIndex(), piece.length())) {
                statistics.clusterCacheHit();
            } else {
                missing.add(piece);
            }
        }
        if (missing.isEmpty()) {
            return;
        }
        readMissing(missing, dst);
    }

    private void readMissing(List<CompressedPiece> missing, ByteBuffer dst) throws IOException {
        missing.sort((a, b) -> Long.compare(a.host(), b.host()));
        // Group pieces whose stored bytes lie close together into one source read each, and handle
        // the groups in batches so that the stored bytes in memory stay bounded for any request.
        List<StoredGroup> groups = new ArrayList<>();
        long batchBytes = 0;
        int i = 0;
        while (i < missing.size()) {
            long start = missing.get(i).host();
            long end = missing.get(i).storedEnd();
            int j = i + 1;
            while (j < missing.size()) {
                CompressedPiece next = missing.get(j);
                long newEnd = Math.max(end, next.storedEnd());
                if (next.host() > end + COALESCE_GAP || newEnd - start > MAX_BATCH_READ) {
                    break;
                }
                end = newEnd;
                j++;
            }
            // A compressed cluster may be stored right at the end of the file, and its sector-rounded
            // length run past it: the missing tail is padding, not data.
            long readEnd = Math.min(end, fileSize);
            groups.add(new StoredGroup(start, readEnd, i, j));
            batchBytes += readEnd - start;
            i = j;
            if (batchBytes >= MAX_BATCH_READ || i == missing.size()) {
                readAndDecompress(missing, groups, (int) batchBytes, dst);
                groups.clear();
                batchBytes = 0;
            }
        }
    }

    /** Stored bytes {@code [start, readEnd)} of the file holding pieces {@code first..last-1}. */
    private record StoredGroup(long start, long readEnd, int first, int last) {
    }

    private void readAndDecompress(List<CompressedPiece> missing, List<StoredGroup> groups, int totalBytes, ByteBuffer dst)
            throws IOException {
        // The stored bytes take the output's kind of buffer so that libzstd can work on both directly;
        // a thread keeps its direct buffer only up to a bound, rarer larger batches go to the heap.
        ByteBuffer stored = dst.isDirect() && totalBytes <= StoredBuffers.MAX_KEPT ? StoredBuffers.direct(totalBytes)
                : ByteBuffer.allocate(totalBytes);
        List<Runnable> work = new ArrayList<>();
        int at = 0;
        for (StoredGroup group : groups) {
            int length = (int) (group.readEnd() - group.start());
            source.readFully(group.start(), stored.slice(at, length));
            for (int k = group.first(); k < group.last(); k++) {
                CompressedPiece piece = missing.get(k);
                int inLength = (int) Math.min(piece.storedLength(), group.readEnd() - piece.host());
                ByteBuffer input = stored.slice(at + (int) (piece.host() - group.start()), inLength);
                work.add(() -> decompressInto(piece, input, dst));
            }
            at += length;
        }
        runAll(work);
    }

    private void decompressInto(CompressedPiece piece, ByteBuffer input, ByteBuffer dst) {
        try {
            if (piece.inCluster() == 0 && piece.length() == clusterSize) {
                decompressor.decompress(input, dst.slice(piece.dstIndex(), clusterSize));
            } else {
                // Part of a cluster: keep the whole cluster, as the next read may want more of it.
                ByteBuffer cluster = input.isDirect() ? StoredBuffers.scratch(clusterSize) : StoredBuffers.heapScratch(clusterSize);
                decompressor.decompress(input, cluster);
                dst.put(piece.dstIndex(), cluster, piece.inCluster(), piece.length());
                clusters.put(piece.entry(), cluster.clear());
            }
            statistics.decompressed(clusterSize);
        } catch (DataFormatException e) {
            throw new UncheckedIOException(new CorruptImageException(name, piece.host(),
                    "compressed cluster for virtual offset " + (piece.virtualOffset() - piece.inCluster())
                            + " does not decompress (" + header.compressionType().qemuName() + ", " + piece.storedLength()
                            + " stored bytes): " + e.getMessage(), e));
        }
    }

    private void runAll(List<Runnable> work) throws IOException {
        // Reads decompressing on every core keep the cores busy: helpers would only hand work around.
        // A read still waiting for its stored bytes leaves its core free, so it does not count.
        int decompressing = readsDecompressing.incrementAndGet();
        try {
            TaskBatch.runAll(work, decompressExecutor, decompressing > CORES ? 0 : CORES - decompressing);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        } finally {
            readsDecompressing.decrementAndGet();
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Allocation

    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
        Ranges.check(name, offset, length, size());
        ExtentList result = new ExtentList();
        mapRange(offset, length, (kind, virtualOffset, runLength, host) -> {
            switch (kind) {
                case RUN_DATA, RUN_COMPRESSED -> result.add(virtualOffset, runLength, Allocation.DATA);
                case RUN_ZERO -> result.add(virtualOffset, runLength, Allocation.ZERO);
                default -> {
                    long fromBacking = backing == null ? 0 : Math.max(0, Math.min(runLength, backing.size() - virtualOffset));
                    if (fromBacking > 0) {
                        for (Extent e : backing.extents(virtualOffset, fromBacking)) {
                            result.add(e.offset(), e.length(), e.allocation());
                        }
                    }
                    if (fromBacking < runLength) {
                        result.add(virtualOffset + fromBacking, runLength - fromBacking, Allocation.HOLE);
                    }
                }
            }
        });
        return result.extents();
    }

    @Override
    public ImageInfo info() throws IOException {
        long[] counts = new long[6];
        mapRange(0, size(), (kind, virtualOffset, runLength, host) -> {
            switch (kind) {
                case RUN_DATA -> counts[0] += runLength;
                case RUN_COMPRESSED -> {
                    counts[1] += runLength;
                    counts[2]++;
                    long sectors = ((host >>> compressedSizeShift) & compressedSizeMask) + 1;
                    counts[3] += sectors * 512 - ((host & compressedOffsetMask) & 511);
                }
                case RUN_ZERO -> counts[4] += runLength;
                default -> counts[5] += runLength;
            }
        });
        AllocationSummary summary = new AllocationSummary(counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]);
        return new ImageInfo(name, "qcow2", size(), fileSize, header, summary, backing == null ? null : backing.info());
    }

    @Override
    public void close() throws IOException {
        try {
            source.close();
        } finally {
            if (backing != null) {
                backing.close();
            }
        }
    }
}
