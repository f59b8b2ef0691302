package dev.branchboot.qcow2;

import java.nio.ByteBuffer;

/** Small helpers for byte ranges shared by the image layers. */
final class Ranges {
    private static final byte[] ZEROS = new byte[64 * 1024];

    private Ranges() {
    }

    /** Rejects a request outside {@code [0, size)} of the virtual disk. */
    static void check(String image, long offset, long length, long size) {
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            throw new IndexOutOfBoundsException(image + ": request " + offset + "+" + length
                    + " lies outside the virtual disk of " + size + " bytes");
        }
    }

    /** Writes {@code length} zero bytes into {@code dst} at absolute index {@code index}. */
    static void zero(ByteBuffer dst, int index, int length) {
        if (dst.hasArray()) {
            int from = dst.arrayOffset() + index;
            java.util.Arrays.fill(dst.array(), from, from + length, (byte) 0);
            return;
        }
        int done = 0;
        while (done < length) {
            int n = Math.min(ZEROS.length, length - done);
            dst.put(index + done, ZEROS, 0, n);
            done += n;
        }
    }
}
