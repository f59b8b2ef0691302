package dev.branchboot.qcow2;

/** A range of the virtual disk, {@code [offset, offset + length)}, with one allocation state. */
public record Extent(long offset, long length, Allocation allocation) {

    /** Validates the range. */
    public Extent {
        if (offset < 0 || length <= 0) {
            throw new IllegalArgumentException("bad extent " + offset + "+" + length);
        }
    }

    /** The first byte after the extent. */
    public long end() {
        return offset + length;
    }
}
