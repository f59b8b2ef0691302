package dev.branchboot.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Reads every image of the conformance set through the library and compares it with the bytes of
 * {@code qemu-img convert -O raw}: whole sequential reads, seeded random reads of random sizes,
 * parallel decompression, and allocation maps (every range reported as zero must read as zeros).
 */
class ConformanceTest {
    private static final ExecutorService POOL = Executors.newFixedThreadPool(2);

    static List<TestImage> images() throws IOException {
        return ConformanceImages.regular();
    }

    @AfterAll
    static void stopPool() {
        POOL.shutdownNow();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void sequentialReadEqualsQemuImgConvert(TestImage image) throws IOException {
        try (VirtualDisk disk = DiskImages.open(image.image(), ImageOptions.DEFAULTS);
             FileChannel reference = FileChannel.open(image.reference(), StandardOpenOption.READ)) {
            assertEquals(reference.size(), disk.size(), "virtual size");
            int chunk = 3 << 20;
            for (long offset = 0; offset < disk.size(); offset += chunk) {
                int length = (int) Math.min(chunk, disk.size() - offset);
                assertRangeEquals(disk, reference, offset, length, image);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void randomReadsEqualQemuImgConvert(TestImage image) throws IOException {
        Random random = new Random(image.name().hashCode());
        ImageOptions small = ImageOptions.DEFAULTS.withCaches(1 << 20, 1 << 20).withDecompressExecutor(POOL);
        try (VirtualDisk disk = DiskImages.open(image.image(), small);
             FileChannel reference = FileChannel.open(image.reference(), StandardOpenOption.READ)) {
            for (int i = 0; i < 300; i++) {
                long offset = (long) (random.nextDouble() * disk.size());
                int maxLength = random.nextInt(4) == 0 ? 1 << 20 : 70_000;
                int length = (int) Math.min(disk.size() - offset, 1 + random.nextInt(maxLength));
                if (length > 0) {
                    assertRangeEquals(disk, reference, offset, length, image);
                }
            }
            // A direct buffer takes the copy path instead of decompressing into the array.
            ByteBuffer direct = ByteBuffer.allocateDirect((int) Math.min(disk.size(), 1 << 20));
            disk.read(0, direct);
            ByteBuffer expected = ByteBuffer.allocate(direct.capacity());
            reference.read(expected, 0);
            assertEquals(expected.flip(), direct.flip(), image + ": direct-buffer read at 0");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void extentsCoverTheDiskAndZeroRangesReadAsZeros(TestImage image) throws IOException {
        try (VirtualDisk disk = DiskImages.open(image.image(), ImageOptions.DEFAULTS);
             FileChannel reference = FileChannel.open(image.reference(), StandardOpenOption.READ)) {
            List<Extent> extents = disk.extents(0, disk.size());
            long next = 0;
            for (Extent extent : extents) {
                assertEquals(next, extent.offset(), image + ": extents must be adjacent");
                next = extent.end();
                if (extent.allocation().readsAsZeros()) {
                    assertReferenceIsZero(reference, extent, image);
                }
            }
            assertEquals(disk.size(), next, image + ": extents must cover the disk");
            for (int i = 1; i < extents.size(); i++) {
                assertTrue(extents.get(i).allocation() != extents.get(i - 1).allocation(), image + ": neighbours must be merged");
            }
        }
    }

    @Test
    void hugeSparseImageEqualsQemuImgConvertWithoutTouchingHoles() throws IOException {
        TestImage image = ConformanceImages.named("sparse-64g");
        try (VirtualDisk disk = DiskImages.open(image.image(), ImageOptions.DEFAULTS);
             FileChannel reference = FileChannel.open(image.reference(), StandardOpenOption.READ)) {
            assertEquals(64L << 30, disk.size());
            List<Extent> extents = disk.extents(0, disk.size());
            long dataBytes = extents.stream().filter(e -> e.allocation() == Allocation.DATA).mapToLong(Extent::length).sum();
            assertTrue(dataBytes < 16 << 20, "only a few MiB are data, got " + dataBytes);
            for (Extent extent : extents) {
                if (extent.allocation() == Allocation.DATA) {
                    for (long offset = extent.offset(); offset < extent.end(); offset += 1 << 20) {
                        assertRangeEquals(disk, reference, offset, (int) Math.min(1 << 20, extent.end() - offset), image);
                    }
                }
            }
            // Probe the holes at seeded places: both sides must be zeros there.
            Random random = new Random(64);
            for (Extent extent : extents) {
                if (extent.allocation() != Allocation.DATA) {
                    for (int i = 0; i < 3; i++) {
                        long offset = extent.offset() + (long) (random.nextDouble() * Math.max(0, extent.length() - 4096));
                        assertRangeEquals(disk, reference, offset, (int) Math.min(4096, extent.end() - offset), image);
                    }
                }
            }
        }
    }

    private static void assertRangeEquals(VirtualDisk disk, FileChannel reference, long offset, int length, TestImage image)
            throws IOException {
        ByteBuffer actual = ByteBuffer.allocate(length);
        disk.read(offset, actual);
        assertEquals(length, actual.position(), "read must advance the buffer to its limit");
        ByteBuffer expected = ByteBuffer.allocate(length);
        int got = 0;
        while (got < length) {
            int n = reference.read(expected, offset + got);
            if (n < 0) {
                fail(image + ": reference shorter than the virtual disk");
            }
            got += n;
        }
        if (!java.util.Arrays.equals(expected.array(), actual.array())) {
            int at = java.util.Arrays.mismatch(expected.array(), actual.array());
            fail(image + ": bytes differ at virtual offset " + (offset + at) + " (read " + offset + "+" + length + ")");
        }
        assertArrayEquals(expected.array(), actual.array());
    }

    private static void assertReferenceIsZero(FileChannel reference, Extent extent, TestImage image) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
        for (long offset = extent.offset(); offset < extent.end(); offset += buffer.capacity()) {
            buffer.clear().limit((int) Math.min(buffer.capacity(), extent.end() - offset));
            reference.read(buffer, offset);
            byte[] bytes = buffer.array();
            for (int i = 0; i < buffer.position(); i++) {
                if (bytes[i] != 0) {
                    fail(image + ": extent " + extent + " is reported as " + extent.allocation()
                            + " but the reference has a non-zero byte at " + (offset + i));
                }
            }
        }
    }
}
