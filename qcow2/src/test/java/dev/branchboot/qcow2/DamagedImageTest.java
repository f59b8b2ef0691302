package dev.branchboot.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.testkit.ConformanceImages;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hand-made damage to real images: each must give a typed exception whose message names the image,
 * the offset and the cause, never wrong bytes, a hang or an unbounded allocation.
 */
class DamagedImageTest {

    @TempDir
    Path tmp;

    private static byte[] bytesOf(String conformanceImage) throws IOException {
        return Files.readAllBytes(ConformanceImages.named(conformanceImage).image());
    }

    private static VirtualDisk open(String name, byte[] bytes) throws IOException {
        return DiskImages.open(new MemorySource(name, bytes), ImageFormat.QCOW2, ImageOptions.DEFAULTS);
    }

    private static void readAll(VirtualDisk disk) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
        for (long offset = 0; offset < disk.size(); offset += buffer.capacity()) {
            buffer.clear().limit((int) Math.min(buffer.capacity(), disk.size() - offset));
            disk.read(offset, buffer);
        }
    }

    private static <T extends ImageException> T failsToOpen(Class<T> type, String name, byte[] bytes) {
        return assertThrows(type, () -> {
            try (VirtualDisk disk = open(name, bytes)) {
                readAll(disk);
            }
        });
    }

    private static void putInt(byte[] b, int offset, int value) {
        ByteBuffer.wrap(b).putInt(offset, value);
    }

    private static void putLong(byte[] b, long offset, long value) {
        ByteBuffer.wrap(b).putLong((int) offset, value);
    }

    private static long getLong(byte[] b, long offset) {
        return ByteBuffer.wrap(b).getLong((int) offset);
    }

    private static Qcow2Header header(byte[] b) throws ImageException {
        return Qcow2Header.parse("x", ByteBuffer.wrap(b), b.length);
    }

    /** Offset of the first non-zero L2 entry of the image, and the L2 table holding it. */
    private static long firstL2Entry(byte[] b, java.util.function.LongPredicate wanted) throws ImageException {
        Qcow2Header h = header(b);
        int entrySize = h.extendedL2() ? 16 : 8;
        for (int i = 0; i < h.l1Size(); i++) {
            long l2 = getLong(b, h.l1TableOffset() + 8L * i) & 0x00FFFFFFFFFFFE00L;
            if (l2 == 0) {
                continue;
            }
            for (long e = l2; e < l2 + h.clusterSize(); e += entrySize) {
                long entry = getLong(b, e);
                if (entry != 0 && wanted.test(entry)) {
                    return e;
                }
            }
        }
        throw new AssertionError("no such L2 entry");
    }

    @Test
    void badMagicIsNotQcow2() throws IOException {
        byte[] b = bytesOf("zlib-64k");
        b[0] = 'X';
        ImageException e = failsToOpen(CorruptImageException.class, "magic.qcow2", b);
        assertEquals("magic.qcow2: at offset 0 (0x0): not a QCOW2 image (magic 0x584649fb)", e.getMessage());
    }

    @Test
    void truncatedFilesFailWithTheOffset() throws IOException {
        byte[] whole = bytesOf("zlib-64k");
        for (int length : new int[] {0, 10, 71, 100, 4096, 65536 + 100, whole.length / 2, whole.length - 1000}) {
            byte[] cut = Arrays.copyOf(whole, length);
            ImageException e = failsToOpen(CorruptImageException.class, "cut.qcow2", cut);
            assertTrue(e.getMessage().startsWith("cut.qcow2: "), e.getMessage());
        }
    }

    @Test
    void unsupportedVersionAndClusterBits() throws IOException {
        byte[] b = bytesOf("zlib-64k");
        putInt(b, 4, 4);
        assertTrue(failsToOpen(UnsupportedImageException.class, "v4", b).getMessage().contains("unsupported QCOW2 version 4"));
        b = bytesOf("zlib-64k");
        putInt(b, 20, 30);
        assertTrue(failsToOpen(CorruptImageException.class, "bits", b).getMessage().contains("cluster_bits 30"));
        putInt(b, 20, 8);
        failsToOpen(CorruptImageException.class, "bits", b);
    }

    @Test
    void absurdL1SizeIsRefusedBeforeAnyAllocation() throws IOException {
        byte[] b = bytesOf("zlib-64k");
        putInt(b, 36, 0x7FFFFFFF);
        assertTrue(failsToOpen(CorruptImageException.class, "l1", b).getMessage().contains("exceeds the 32 MiB limit"));
        b = bytesOf("zlib-64k");
        putInt(b, 36, 1 << 21);
        putLong(b, 24, 1L << 50);
        assertTrue(failsToOpen(CorruptImageException.class, "l1", b).getMessage().contains("runs past the end of the file"));
        b = bytesOf("zlib-64k");
        putLong(b, 24, 1L << 60);
        assertTrue(failsToOpen(CorruptImageException.class, "l1", b).getMessage().contains("is too small"));
    }

    @Test
    void l1EntriesPointingOutsideTheFileOrIntoMetadata() throws IOException {
        byte[] original = bytesOf("zlib-64k");
        Qcow2Header h = header(original);
        long l1 = h.l1TableOffset();
        long[][] cases = {{1L << 40, 0}, {0x200, 0}, {0x10000 + 0x200, 0}, {l1, 0}};
        String[] expected = {"past the end of the file", "not cluster aligned", "not cluster aligned", "points into the L1 table"};
        for (int i = 0; i < cases.length; i++) {
            byte[] b = original.clone();
            putLong(b, l1, cases[i][0] | (1L << 63));
            ImageException e = failsToOpen(CorruptImageException.class, "l1e.qcow2", b);
            assertEquals(l1, e.offset(), e.getMessage());
            assertTrue(e.getMessage().contains(expected[i]), e.getMessage());
        }
        byte[] b = original.clone();
        putLong(b, l1, 0); // an L2 table "at 0": the whole range is unallocated, not an error
        try (VirtualDisk disk = open("zero-l1", b)) {
            readAll(disk);
        }
    }

    @Test
    void dataClusterPastTheEndOfTheFile() throws IOException {
        byte[] b = bytesOf("plain-64k");
        long entry = firstL2Entry(b, e -> (e & (1L << 62)) == 0);
        putLong(b, entry, (1L << 63) | (1L << 40));
        ImageException e = failsToOpen(CorruptImageException.class, "data.qcow2", b);
        assertEquals(entry, e.offset());
        assertTrue(e.getMessage().contains("past the end of the file"), e.getMessage());
        putLong(b, entry, (1L << 63) | 0x10200L);
        assertTrue(failsToOpen(CorruptImageException.class, "data.qcow2", b).getMessage().contains("not cluster aligned"));
    }

    @Test
    void compressedClusterThatDoesNotDecompress() throws IOException {
        for (String name : new String[] {"zlib-64k", "zstd-64k"}) {
            byte[] b = bytesOf(name);
            long entryOffset = firstL2Entry(b, e -> (e & (1L << 62)) != 0);
            long entry = getLong(b, entryOffset);
            long host = entry & ((1L << 54) - 1);
            Arrays.fill(b, (int) host, (int) host + 64, (byte) 0xFF);
            ImageException e = failsToOpen(CorruptImageException.class, name, b);
            assertEquals(host, e.offset(), e.getMessage());
            assertTrue(e.getMessage().contains("does not decompress"), e.getMessage());
        }
    }

    @Test
    void compressedClusterPointingIntoTheHeaderOrPastTheEnd() throws IOException {
        byte[] b = bytesOf("zlib-64k");
        long entryOffset = firstL2Entry(b, e -> (e & (1L << 62)) != 0);
        long entry = getLong(b, entryOffset);
        long sizeBits = entry & ~((1L << 54) - 1);
        putLong(b, entryOffset, sizeBits | 100);
        assertTrue(failsToOpen(CorruptImageException.class, "c", b).getMessage().contains("into the image header"));
        putLong(b, entryOffset, sizeBits | (1L << 45));
        assertTrue(failsToOpen(CorruptImageException.class, "c", b).getMessage().contains("past the end of the file"));
    }

    @Test
    void zeroFlagInAVersion2ImageIsCorruption() throws IOException {
        byte[] b = bytesOf("v2-plain-4k");
        long entry = firstL2Entry(b, e -> true);
        putLong(b, entry, getLong(b, entry) | 1);
        ImageException e = failsToOpen(CorruptImageException.class, "v2", b);
        assertTrue(e.getMessage().contains("zero cluster flag in a version 2 image"), e.getMessage());
        assertEquals(entry, e.offset());
    }

    @Test
    void invalidSubclusterBitmaps() throws IOException {
        byte[] b = bytesOf("extended-l2");
        long entry = firstL2Entry(b, e -> (e & (1L << 62)) == 0 && (e & 0x00FFFFFFFFFFFE00L) != 0);
        putLong(b, entry + 8, 0x0000000100000001L);
        assertTrue(failsToOpen(CorruptImageException.class, "ext", b).getMessage().contains("both allocated and zero"));
        b = bytesOf("extended-l2");
        putLong(b, entry, 0);
        putLong(b, entry + 8, 1);
        assertTrue(failsToOpen(CorruptImageException.class, "ext", b).getMessage().contains("without a host offset"));
    }

    @Test
    void refusedFeaturesAreNamed() throws IOException {
        byte[] b = bytesOf("zlib-64k");
        putInt(b, 32, 2);
        assertTrue(failsToOpen(UnsupportedImageException.class, "luks", b).getMessage().contains("encrypted images are not supported (crypt_method LUKS)"));
        b = bytesOf("zlib-64k");
        putLong(b, 72, getLong(b, 72) | (1L << 2));
        assertTrue(failsToOpen(UnsupportedImageException.class, "data-file", b).getMessage().contains("external data file"));
        b = bytesOf("zlib-64k");
        putLong(b, 72, getLong(b, 72) | (1L << 9));
        assertTrue(failsToOpen(UnsupportedImageException.class, "bit9", b).getMessage().contains("unknown incompatible feature bit 9"));
        b = bytesOf("zlib-64k");
        b[104] = 7;
        assertTrue(failsToOpen(UnsupportedImageException.class, "ct", b).getMessage().contains("unknown compression type 7"));
        b = bytesOf("zlib-64k");
        b[104] = 1;
        assertTrue(failsToOpen(CorruptImageException.class, "ct", b).getMessage().contains("does not agree with the compression feature bit"));
    }

    @Test
    void unknownIncompatibleBitIsNamedFromTheFeatureTable() throws IOException {
        byte[] b = bytesOf("zlib-64k");
        // qemu writes a feature-name table; rename the entry of incompatible bit 0 to describe bit 5.
        int table = -1;
        for (int pos = 112; pos + 8 < 4096; ) {
            int type = ByteBuffer.wrap(b).getInt(pos);
            int len = ByteBuffer.wrap(b).getInt(pos + 4);
            if (type == 0x6803F857) {
                table = pos + 8;
                break;
            }
            if (type == 0) {
                break;
            }
            pos += 8 + ((len + 7) & ~7);
        }
        assertTrue(table > 0, "qemu-img writes a feature name table");
        b[table] = 0;
        b[table + 1] = 5;
        byte[] name = "time travel".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        Arrays.fill(b, table + 2, table + 48, (byte) 0);
        System.arraycopy(name, 0, b, table + 2, name.length);
        putLong(b, 72, getLong(b, 72) | (1L << 5));
        assertTrue(failsToOpen(UnsupportedImageException.class, "named", b).getMessage().contains("'time travel'"));
    }

    @Test
    void headerExtensionRunningPastTheHeaderArea() throws IOException {
        byte[] b = bytesOf("zlib-64k");
        putInt(b, 112 + 4, 1 << 20);
        ImageException e = failsToOpen(CorruptImageException.class, "ext", b);
        assertEquals(112, e.offset());
        assertTrue(e.getMessage().contains("runs past the header area"));
    }

    @Test
    void backingChainsThatLoopOrNameThemselves() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("loop"));
        ConformanceImages.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "a.qcow2", "1M");
        ConformanceImages.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "b.qcow2");
        ConformanceImages.run(dir, "qemu-img", "rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2");
        BackingChainException e = assertThrows(BackingChainException.class,
                () -> DiskImages.open(dir.resolve("b.qcow2"), ImageOptions.DEFAULTS).close());
        assertTrue(e.getMessage().contains("backing chain loops"), e.getMessage());
        ConformanceImages.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "self.qcow2", "1M");
        ConformanceImages.run(dir, "qemu-img", "rebase", "-u", "-b", "self.qcow2", "-F", "qcow2", "self.qcow2");
        e = assertThrows(BackingChainException.class, () -> DiskImages.open(dir.resolve("self.qcow2"), ImageOptions.DEFAULTS).close());
        assertTrue(e.getMessage().contains("backing chain loops"), e.getMessage());
    }

    @Test
    void backingChainDeeperThanTheLimit() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("deep"));
        ConformanceImages.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "l0.qcow2", "1M");
        for (int i = 1; i <= 5; i++) {
            ConformanceImages.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "l" + (i - 1) + ".qcow2", "-F", "qcow2",
                    "l" + i + ".qcow2");
        }
        try (VirtualDisk disk = DiskImages.open(dir.resolve("l5.qcow2"), ImageOptions.DEFAULTS.withMaxBackingDepth(5))) {
            assertEquals(1 << 20, disk.size());
        }
        BackingChainException e = assertThrows(BackingChainException.class,
                () -> DiskImages.open(dir.resolve("l5.qcow2"), ImageOptions.DEFAULTS.withMaxBackingDepth(4)).close());
        assertTrue(e.getMessage().contains("deeper than the limit of 4"), e.getMessage());
    }

    @Test
    void missingAndAbsoluteBackingFiles() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("missing"));
        Path elsewhere = Files.createDirectories(tmp.resolve("elsewhere"));
        ConformanceImages.run(elsewhere, "qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "1M");
        ConformanceImages.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", elsewhere.resolve("base.qcow2").toString(),
                "-F", "qcow2", "top.qcow2");
        BackingChainException e = assertThrows(BackingChainException.class,
                () -> DiskImages.open(dir.resolve("top.qcow2"), ImageOptions.DEFAULTS).close());
        assertTrue(e.getMessage().contains("is an absolute path") && e.getMessage().contains("does not exist"), e.getMessage());
        ConformanceImages.run(dir, "qemu-img", "rebase", "-u", "-b", "gone.qcow2", "-F", "qcow2", "top.qcow2");
        e = assertThrows(BackingChainException.class, () -> DiskImages.open(dir.resolve("top.qcow2"), ImageOptions.DEFAULTS).close());
        assertTrue(e.getMessage().contains("backing file 'gone.qcow2' not found"), e.getMessage());
        ConformanceImages.run(dir, "qemu-img", "rebase", "-u", "-b", "gone.vmdk", "-F", "vmdk", "top.qcow2");
        Files.write(dir.resolve("gone.vmdk"), new byte[512]);
        UnsupportedImageException u = assertThrows(UnsupportedImageException.class,
                () -> DiskImages.open(dir.resolve("top.qcow2"), ImageOptions.DEFAULTS).close());
        assertTrue(u.getMessage().contains("backing file format 'vmdk' is not supported"), u.getMessage());
    }

    @Test
    void readsOutsideTheDiskAreRejected() throws IOException {
        try (VirtualDisk disk = DiskImages.open(ConformanceImages.named("zlib-64k").image(), ImageOptions.DEFAULTS)) {
            assertThrows(IndexOutOfBoundsException.class, () -> disk.read(disk.size() - 10, ByteBuffer.allocate(11)));
            assertThrows(IndexOutOfBoundsException.class, () -> disk.read(-1, ByteBuffer.allocate(1)));
            assertThrows(IndexOutOfBoundsException.class, () -> disk.extents(0, disk.size() + 1));
        }
    }
}
