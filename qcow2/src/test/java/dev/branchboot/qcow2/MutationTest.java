package dev.branchboot.qcow2;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import dev.branchboot.testkit.ConformanceImages;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Randomized damage with a fixed seed: a few bytes of a valid image are changed, mostly in its
 * header and tables, and the whole disk is read and mapped. Every outcome must be either a
 * successful read or an {@link ImageException}: no other exception, no hang, no OutOfMemoryError.
 */
class MutationTest {
    private static final int MUTATIONS_PER_IMAGE = 120;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"zlib-4k", "zstd-64k", "zlib-512", "zstd-2m", "extended-l2", "v2-compressed", "zero-clusters",
            "plain-64k", "odd-size-written"})
    void mutatedImagesFailCleanly(String name) throws IOException {
        byte[] original = Files.readAllBytes(ConformanceImages.named(name).image());
        List<long[]> metadata = metadataRanges(original);
        Random random = new Random(0xB007L ^ name.hashCode());
        int failures = 0;
        for (int round = 0; round < MUTATIONS_PER_IMAGE; round++) {
            byte[] damaged = original.clone();
            int changes = 1 + random.nextInt(6);
            StringBuilder what = new StringBuilder();
            for (int c = 0; c < changes; c++) {
                long[] range = random.nextInt(10) < 7 ? metadata.get(random.nextInt(metadata.size())) : new long[] {0, damaged.length};
                int at = (int) (range[0] + (long) (random.nextDouble() * (range[1] - range[0])));
                byte value = switch (random.nextInt(4)) {
                    case 0 -> (byte) random.nextInt(256);
                    case 1 -> (byte) (damaged[at] ^ (1 << random.nextInt(8)));
                    case 2 -> (byte) 0xFF;
                    default -> 0;
                };
                damaged[at] = value;
                what.append(String.format(" [%d]=0x%02x", at, value & 0xFF));
            }
            String label = name + " round " + round + ":" + what;
            boolean ok = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> readEverything(label, damaged), label);
            if (!ok) {
                failures++;
            }
        }
        if (failures == MUTATIONS_PER_IMAGE) {
            fail("every mutation failed to open: the mutations never reach the read path");
        }
        if (failures == 0) {
            fail("no mutation was detected: the checks never fire");
        }
    }

    /** Reads and maps the whole damaged disk; true if it read without error. */
    private static boolean readEverything(String label, byte[] bytes) {
        try (VirtualDisk disk = DiskImages.open(new MemorySource(label, bytes), ImageFormat.QCOW2,
                ImageOptions.DEFAULTS.withCaches(256 << 10, 256 << 10))) {
            disk.extents(0, disk.size());
            ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
            long limit = Math.min(disk.size(), 64L << 20);
            for (long offset = 0; offset < limit; offset += buffer.capacity()) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), limit - offset));
                disk.read(offset, buffer);
            }
            disk.info();
            return true;
        } catch (ImageException expected) {
            if (!expected.getMessage().startsWith(label)) {
                fail("error does not name the image: " + expected.getMessage());
            }
            return false;
        } catch (Throwable unexpected) {
            throw new AssertionError(label + ": unexpected " + unexpected, unexpected);
        }
    }

    /** The header cluster, the L1 table and every L2 table of the undamaged image. */
    private static List<long[]> metadataRanges(byte[] image) throws ImageException {
        Qcow2Header h = Qcow2Header.parse("original", ByteBuffer.wrap(image), image.length);
        List<long[]> ranges = new ArrayList<>();
        ranges.add(new long[] {0, Math.min(512, image.length)});
        ranges.add(new long[] {0, Math.min(h.clusterSize(), image.length)});
        ranges.add(new long[] {h.l1TableOffset(), h.l1TableOffset() + 8L * Math.max(1, h.l1Size())});
        ByteBuffer b = ByteBuffer.wrap(image);
        for (int i = 0; i < h.l1Size(); i++) {
            long l2 = b.getLong((int) (h.l1TableOffset() + 8L * i)) & 0x00FFFFFFFFFFFE00L;
            if (l2 != 0 && l2 + h.clusterSize() <= image.length) {
                ranges.add(new long[] {l2, l2 + h.clusterSize()});
            }
        }
        return ranges;
    }
}
