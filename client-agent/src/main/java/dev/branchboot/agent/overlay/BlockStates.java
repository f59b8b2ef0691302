package dev.branchboot.agent.overlay;

import java.util.Arrays;

/**
 * What the overlay holds for each block: nothing (the image shows through), data, or zeros. Two
 * bits per block in pages allocated on first use, so a 64 GiB disk with a few written blocks costs
 * a few kilobytes, and a whole page that was never touched is skipped in one step.
 *
 * <p>Not thread-safe: {@link CowOverlay} guards it with its lock.
 */
public final class BlockStates {
    /** The image shows through. */
    public static final int ABSENT = 0;
    /** The overlay stores the block's bytes. */
    public static final int DATA = 1;
    /** The block reads as zeros; nothing is stored. */
    public static final int ZERO = 2;

    /** Blocks per page; a page is {@value #PAGE_LONGS} longs. */
    public static final int PAGE_BLOCKS = 4096;
    static final int PAGE_LONGS = PAGE_BLOCKS * 2 / 64;

    private final long blocks;
    private final long[][] pages;
    private long dataBlocks;

    /** An all-{@link #ABSENT} map of {@code blocks} blocks. */
    public BlockStates(long blocks) {
        long pageCount = (blocks + PAGE_BLOCKS - 1) / PAGE_BLOCKS;
        if (pageCount > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("too many blocks for an overlay map: " + blocks);
        }
        this.blocks = blocks;
        this.pages = new long[(int) pageCount][];
    }

    /** The number of blocks. */
    public long blocks() {
        return blocks;
    }

    /** How many blocks are {@link #DATA}. */
    public long dataBlocks() {
        return dataBlocks;
    }

    /** The state of {@code block}. */
    public int get(long block) {
        long[] page = pages[(int) (block / PAGE_BLOCKS)];
        if (page == null) {
            return ABSENT;
        }
        int i = (int) (block % PAGE_BLOCKS);
        return (int) (page[i >>> 5] >>> ((i & 31) * 2)) & 3;
    }

    /** Sets {@code block} to {@code state}, returning the previous state. */
    public int set(long block, int state) {
        int p = (int) (block / PAGE_BLOCKS);
        long[] page = pages[p];
        if (page == null) {
            if (state == ABSENT) {
                return ABSENT;
            }
            page = pages[p] = new long[PAGE_LONGS];
        }
        int i = (int) (block % PAGE_BLOCKS);
        int shift = (i & 31) * 2;
        int old = (int) (page[i >>> 5] >>> shift) & 3;
        page[i >>> 5] = (page[i >>> 5] & ~(3L << shift)) | ((long) state << shift);
        if (old == DATA) {
            dataBlocks--;
        }
        if (state == DATA) {
            dataBlocks++;
        }
        return old;
    }

    /**
     * The first block at or after {@code block} and before {@code limit} whose state differs from
     * that of {@code block}, or {@code limit}.
     */
    public long runEnd(long block, long limit) {
        int state = get(block);
        long b = block + 1;
        while (b < limit) {
            long[] page = pages[(int) (b / PAGE_BLOCKS)];
            if (page == null) {
                if (state != ABSENT) {
                    return b;
                }
                b = (b / PAGE_BLOCKS + 1) * PAGE_BLOCKS;
                continue;
            }
            if (get(b) != state) {
                return b;
            }
            b++;
        }
        return limit;
    }

    /** A copy, for persisting a consistent snapshot without holding the overlay's lock. */
    public BlockStates copy() {
        BlockStates c = new BlockStates(blocks);
        for (int p = 0; p < pages.length; p++) {
            if (pages[p] != null) {
                c.pages[p] = pages[p].clone();
            }
        }
        c.dataBlocks = dataBlocks;
        return c;
    }

    /** The number of pages (allocated or not). */
    int pageCount() {
        return pages.length;
    }

    /** The raw words of page {@code p}, or {@code null} when it was never written. */
    long[] page(int p) {
        long[] page = pages[p];
        if (page != null && Arrays.stream(page).allMatch(w -> w == 0)) {
            return null;
        }
        return page;
    }

    /** Installs a page read back from disk, validating every state. */
    void loadPage(int p, long[] words) {
        if (p < 0 || p >= pages.length || words.length != PAGE_LONGS) {
            throw new IllegalArgumentException("page " + p + " is outside the map");
        }
        pages[p] = words.clone();
        for (int i = 0; i < PAGE_BLOCKS; i++) {
            long block = (long) p * PAGE_BLOCKS + i;
            int state = get(block);
            if (state == 3 || (block >= blocks && state != ABSENT)) {
                throw new IllegalArgumentException("invalid state " + state + " for block " + block);
            }
            if (state == DATA) {
                dataBlocks++;
            }
        }
    }
}
