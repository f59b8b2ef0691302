package dev.branchboot.integrity;

import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * SHA-256 of consecutive blocks in native code with the CPU's SHA extensions
 * ({@code src/main/native/branchboot_sha256.c}), for the agent: its launcher runs C1 only, for a fast
 * start in the initramfs, and C1 compiles Java's SHA-256 without those instructions, about ten times
 * slower (docs/benchmarks.md). Used only when the system property {@code branchboot.sha256.library}
 * names the library (the boot runtime's launcher sets it) and the CPU has the extensions; otherwise
 * {@link #available()} is false and callers use Java's digest, which gives the same bytes.
 */
public final class NativeSha256 {
    /** The system property naming the library file. */
    public static final String LIBRARY_PROPERTY = "branchboot.sha256.library";

    private static final System.Logger LOG = System.getLogger(NativeSha256.class.getName());
    private static final String STATUS;
    private static final boolean AVAILABLE;

    static {
        String library = System.getProperty(LIBRARY_PROPERTY, "");
        String status;
        boolean available = false;
        if (library.isEmpty()) {
            status = "Java's SHA-256 (no -D" + LIBRARY_PROPERTY + ")";
        } else if (!Files.isRegularFile(Path.of(library))) {
            status = "Java's SHA-256 (" + library + " is missing)";
        } else {
            try {
                System.load(Path.of(library).toAbsolutePath().toString());
                available = supported();
                status = available ? "native SHA-256 with the CPU's SHA extensions (" + library + ")"
                        : "Java's SHA-256 (this CPU has no SHA extensions)";
            } catch (UnsatisfiedLinkError e) {
                status = "Java's SHA-256 (" + library + " cannot be loaded: " + e.getMessage() + ")";
                LOG.log(Level.WARNING, "Block digests use " + status);
            }
        }
        STATUS = status;
        AVAILABLE = available;
    }

    private NativeSha256() {
    }

    /** Whether the native digests are loaded and this CPU runs them. */
    public static boolean available() {
        return AVAILABLE;
    }

    /** Which SHA-256 block digests use, and why, for a start-up log line. */
    public static String status() {
        return STATUS;
    }

    /**
     * The SHA-256 digests of {@code bytes}' blocks (position to limit) of {@code blockSize} bytes,
     * the last one possibly shorter, 32 bytes each, into {@code out}. Only when {@link #available()}.
     *
     * @return false when the buffer is neither backed by an accessible array nor direct (nothing is
     *         written; use Java's digest)
     */
    static boolean digestBlocks(ByteBuffer bytes, int blockSize, byte[] out) {
        int length = bytes.remaining();
        if (blockSize <= 0 || (long) (length + blockSize - 1) / blockSize * ImageManifest.DIGEST_LENGTH > out.length) {
            throw new IllegalArgumentException(length + " bytes in blocks of " + blockSize + " need more than "
                    + out.length + " bytes of digests");
        }
        if (bytes.hasArray()) {
            digestArray(bytes.array(), bytes.arrayOffset() + bytes.position(), length, blockSize, out);
            return true;
        }
        return bytes.isDirect() && digestDirect(bytes, bytes.position(), length, blockSize, out);
    }

    private static native boolean supported();

    private static native void digestArray(byte[] in, int offset, int length, int blockSize, byte[] out);

    private static native boolean digestDirect(ByteBuffer in, int offset, int length, int blockSize, byte[] out);
}
