package dev.branchboot.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.testkit.ConformanceImages;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Checks that the conformance set really contains what its names promise (a dirty bit, zero
 * clusters, subclusters, a deep chain...), so the conformance test cannot pass vacuously.
 */
class ConformanceSetCoverageTest {

    private static ImageInfo info(String name) throws IOException {
        try (VirtualDisk disk = DiskImages.open(ConformanceImages.named(name).image(), ImageOptions.DEFAULTS)) {
            return disk.info();
        }
    }

    @Test
    void compressedImagesHoldCompressedClustersOfBothTypes() throws IOException {
        for (String cluster : new String[] {"512", "1k", "4k", "16k", "64k", "256k", "2m"}) {
            ImageInfo zlib = info("zlib-" + cluster);
            ImageInfo zstd = info("zstd-" + cluster);
            assertTrue(zlib.allocation().compressedClusters() > 0, "zlib-" + cluster);
            assertTrue(zstd.allocation().compressedClusters() > 0, "zstd-" + cluster);
            if (zlib.header().clusterSize() <= 65536) {
                // The content changes kind every 64 KiB, so only small clusters are wholly random or zero.
                assertTrue(zlib.allocation().dataBytes() > 0, "incompressible clusters stay uncompressed in zlib-" + cluster);
                assertTrue(zlib.allocation().unallocatedBytes() > 0, "zero clusters are left unallocated in zlib-" + cluster);
            }
            assertEquals(CompressionType.DEFLATE, zlib.header().compressionType());
            assertEquals(CompressionType.ZSTD, zstd.header().compressionType());
        }
        assertEquals(512, info("zlib-512").header().clusterSize());
        assertEquals(2 << 20, info("zstd-2m").header().clusterSize());
    }

    @Test
    void headerVariantsArePresent() throws IOException {
        assertEquals(2, info("v2-compressed").header().version());
        assertTrue(info("v2-compressed").allocation().compressedClusters() > 0);
        assertEquals(2, info("chain-v2-over-v3").header().version());
        assertTrue(info("dirty").header().dirty(), "qemu-io abort must leave the dirty bit set");
        assertTrue(info("lazy-refcounts").header().lazyRefcounts());
        assertEquals(2, info("snapshots").header().snapshotCount());
        assertTrue(info("extended-l2").header().extendedL2());
        assertTrue(info("extended-l2-zstd-2m").header().extendedL2());
        assertTrue(info("odd-size-zlib").virtualSize() % info("odd-size-zlib").header().clusterSize() != 0);
        assertTrue(info("odd-size-written").virtualSize() % 65536 != 0);
    }

    @Test
    void zeroClustersOfBothKindsArePresent() throws IOException {
        assertTrue(info("zero-clusters").allocation().zeroBytes() >= 192 * 1024);
        assertTrue(info("extended-l2").allocation().zeroBytes() > 0);
        assertTrue(info("preallocated-metadata").allocation().dataBytes() > 0);
    }

    @Test
    void backingChainsHaveTheExpectedShape() throws IOException {
        ImageInfo top = info("chain-top");
        assertNotNull(top.backing());
        assertNotNull(top.backing().backing());
        assertEquals("qcow2", top.backing().backing().format());
        assertEquals("raw", info("chain-raw-base").backing().format());
        ImageInfo shortBase = info("chain-short-base");
        assertTrue(shortBase.backing().virtualSize() < shortBase.virtualSize());
        assertTrue(info("absolute-backing-moved").header().backingFileName().startsWith("/"));
        assertTrue(info("chain-relative").header().backingFileName().startsWith("../"));
    }

    @Test
    void largeImagesAreLarge() throws IOException {
        assertTrue(info("large-zlib-256m").virtualSize() >= 256L << 20);
        ImageInfo sparse = info("sparse-64g");
        assertEquals(64L << 30, sparse.virtualSize());
        assertTrue(sparse.fileSize() < 32 << 20);
    }
}
