package dev.branchboot.qcow2;

/**
 * How the virtual bytes of one image layer are stored (not counting its backing files).
 *
 * @param dataBytes            virtual bytes stored uncompressed
 * @param compressedBytes      virtual bytes stored in compressed clusters
 * @param compressedClusters   number of compressed clusters
 * @param compressedStoredBytes bytes those compressed clusters occupy in the file (sector-rounded, as the L2 entries say)
 * @param zeroBytes            virtual bytes marked as reading zeros
 * @param unallocatedBytes     virtual bytes this layer does not store (read from the backing file, or zeros)
 */
public record AllocationSummary(long dataBytes, long compressedBytes, long compressedClusters,
                                long compressedStoredBytes, long zeroBytes, long unallocatedBytes) {
}
