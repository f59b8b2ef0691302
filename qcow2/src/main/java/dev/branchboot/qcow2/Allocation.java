package dev.branchboot.qcow2;

/** How a range of a virtual disk is stored, as NBD block status and {@code qemu-img map} report it. */
public enum Allocation {
    /** Bytes are stored (plain, compressed, or in a backing file). */
    DATA,
    /** Reads as zeros because the image says so explicitly (a zero cluster or subcluster). */
    ZERO,
    /** No layer of the chain stores anything here: reads as zeros. */
    HOLE;

    /** True for the states whose bytes are all zero. */
    public boolean readsAsZeros() {
        return this != DATA;
    }
}
