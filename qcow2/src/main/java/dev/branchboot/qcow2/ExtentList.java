package dev.branchboot.qcow2;

import java.util.ArrayList;
import java.util.List;

/** Collects adjacent extents in order, merging neighbours of the same allocation. */
final class ExtentList {
    private final List<Extent> extents = new ArrayList<>();
    private long start = -1;
    private long length;
    private Allocation allocation;

    void add(long offset, long len, Allocation kind) {
        if (len <= 0) {
            return;
        }
        if (allocation == kind && start + length == offset) {
            length += len;
            return;
        }
        flush();
        start = offset;
        length = len;
        allocation = kind;
    }

    private void flush() {
        if (allocation != null) {
            extents.add(new Extent(start, length, allocation));
        }
    }

    List<Extent> extents() {
        flush();
        allocation = null;
        return extents;
    }
}
