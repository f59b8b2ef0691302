package dev.branchboot.agent.blockdev;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.qcow2.DiskImages;
import dev.branchboot.qcow2.Extent;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The bottom layer over real QCOW2 images: reads, refusals, bounded block status. */
class ImageBlockDeviceTest {

    @Test
    void readsTheReferenceBytesAndRefusesWrites() throws Exception {
        TestImage image = ConformanceImages.named("chain-top");
        try (ImageBlockDevice device = new ImageBlockDevice(DiskImages.open(image.image(), ImageOptions.DEFAULTS))) {
            assertFalse(device.writable());
            ByteBuffer all = ByteBuffer.allocate((int) device.size());
            device.read(0, all);
            assertArrayEquals(Files.readAllBytes(image.reference()), all.array());
            assertThrows(ReadOnlyDeviceException.class, () -> device.write(0, ByteBuffer.allocate(1), false));
            assertThrows(ReadOnlyDeviceException.class, () -> device.trim(0, 1, false));
            assertThrows(ReadOnlyDeviceException.class, () -> device.zero(0, 1, true, false));
            device.cache(0, device.size());
        }
    }

    @Test
    void blockStatusLooksAtABoundedNumberOfClusters() throws Exception {
        TestImage image = ConformanceImages.named("sparse-64g");
        try (ImageBlockDevice device = new ImageBlockDevice(DiskImages.open(image.image(), ImageOptions.DEFAULTS))) {
            List<Extent> extents = device.blockStatus(0, device.size());
            assertEquals(0, extents.get(0).offset());
            long end = extents.get(extents.size() - 1).end();
            assertEquals(65536L * ImageBlockDevice.MAX_STATUS_CLUSTERS, end, "64 KiB clusters: 4 GiB per query");
            assertTrue(extents.size() < 10);
        }
    }
}
