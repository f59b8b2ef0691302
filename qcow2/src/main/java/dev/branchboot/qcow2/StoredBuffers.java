package dev.branchboot.qcow2;

import java.nio.ByteBuffer;

/**
 * Per-thread direct buffers reused across reads: allocating direct memory is slow and its release
 * waits for the garbage collector, so a thread keeps one buffer for stored (compressed) bytes and
 * cluster-sized scratch buffers (direct, and heap for heap input, so that libzstd never needs a
 * copy), each grown as needed.
 */
final class StoredBuffers {
    /** The largest stored-bytes buffer a thread keeps; callers use the heap for larger ones. */
    static final int MAX_KEPT = 2 << 20;

    private static final ThreadLocal<ByteBuffer> STORED = new ThreadLocal<>();
    private static final ThreadLocal<ByteBuffer> SCRATCH = new ThreadLocal<>();
    private static final ThreadLocal<ByteBuffer> HEAP_SCRATCH = new ThreadLocal<>();

    private StoredBuffers() {
    }

    /** A direct buffer of exactly {@code length} bytes, valid until this thread asks again. */
    static ByteBuffer direct(int length) {
        return sized(STORED, length);
    }

    /** A direct cluster buffer of exactly {@code length} bytes for decompression on this thread. */
    static ByteBuffer scratch(int length) {
        return sized(SCRATCH, length);
    }

    /** A heap cluster buffer of exactly {@code length} bytes for decompressing heap input on this thread. */
    static ByteBuffer heapScratch(int length) {
        return sizedHeap(HEAP_SCRATCH, length);
    }

    private static ByteBuffer sizedHeap(ThreadLocal<ByteBuffer> holder, int length) {
        ByteBuffer buffer = holder.get();
        if (buffer == null || buffer.capacity() < length) {
            buffer = ByteBuffer.allocate(Math.max(length, 64 * 1024));
            holder.set(buffer);
        }
        return buffer.clear().limit(length).slice();
    }

    private static ByteBuffer sized(ThreadLocal<ByteBuffer> holder, int length) {
        ByteBuffer buffer = holder.get();
        if (buffer == null || buffer.capacity() < length) {
            buffer = ByteBuffer.allocateDirect(Math.max(length, 64 * 1024));
            holder.set(buffer);
        }
        return buffer.clear().limit(length).slice();
    }
}
