package dev.branchboot.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.testkit.ConformanceImages;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class ReadStatisticsTest {

    @Test
    void countsDecompressionsAndCacheHitsAcrossTheChain() throws IOException {
        ReadStatistics stats = new ReadStatistics();
        try (VirtualDisk disk = DiskImages.open(ConformanceImages.named("zlib-64k").image(),
                ImageOptions.DEFAULTS.withStatistics(stats))) {
            long compressed = disk.info().allocation().compressedClusters();
            ByteBuffer whole = ByteBuffer.allocate((int) disk.size());
            disk.read(0, whole);
            assertEquals(compressed, stats.clustersDecompressed(), "a whole read decompresses each compressed cluster once");
            assertEquals(compressed * 65536, stats.bytesDecompressed());
            assertEquals(0, stats.clusterCacheHits(), "whole clusters are not cached");

            for (long offset = 0; offset < disk.size(); offset += 65536) {
                disk.read(offset, ByteBuffer.allocate(4096));
                disk.read(offset + 4096, ByteBuffer.allocate(4096));
                disk.read(offset + 8192, ByteBuffer.allocate(4096));
            }
            assertEquals(2 * compressed, stats.clusterCacheHits(), "the second and third 4 KiB of each compressed cluster come from the cache");
            assertEquals(2 * compressed, stats.clustersDecompressed(), "a partly read cluster is decompressed once");
            assertEquals(2 * compressed * 65536, stats.bytesDecompressed());
            assertTrue(stats.l2CacheHits() > 0 && stats.l2CacheMisses() >= 1, "L2 lookups are counted");
        }
        try (VirtualDisk chain = DiskImages.open(ConformanceImages.named("chain-top").image(),
                ImageOptions.DEFAULTS.withStatistics(stats))) {
            long before = stats.clustersDecompressed();
            chain.read(0, ByteBuffer.allocate((int) chain.size()));
            assertTrue(stats.clustersDecompressed() > before, "backing layers count into the same statistics");
        }
    }
}
