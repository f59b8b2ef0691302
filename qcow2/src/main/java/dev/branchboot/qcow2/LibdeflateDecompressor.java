package dev.branchboot.qcow2;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.zip.DataFormatException;

/**
 * Raw deflate decoded by libdeflate, through the small JNI library built with this module
 * ({@code src/main/native}, linked statically with libdeflate). It decodes a whole cluster several
 * times faster than zlib (measured 3.5-5x on the benchmark image), which is most of the agent's
 * work in a sequential read. It needs direct buffers on both sides; anything else goes to zlib
 * ({@link DeflateClusterDecompressor}), as does everything when the library is not there.
 *
 * <p>The library is loaded from {@code -Dbranchboot.deflate.library=PATH} (the boot runtime
 * unpacks it next to the jar), else unpacked from the jar once into the per-user
 * {@link NativeLibraryCache}. {@code -Dbranchboot.deflate=zlib} turns it off, to compare.
 */
final class LibdeflateDecompressor implements ClusterDecompressor {
    private static final Logger LOG = Logger.getLogger(LibdeflateDecompressor.class.getName());
    private static final String RESOURCE = "/native/linux-amd64/libbranchboot-deflate.so";

    /** The decoder, or null when the native library is not available here. */
    static final LibdeflateDecompressor INSTANCE = load();

    /**
     * Native decompressors not in use. One is taken per decode and put back, so there are never
     * more than decodes ever ran at once; they live as long as the process (a few KiB each).
     */
    private long[] idle = new long[8];
    private int idleCount;

    private LibdeflateDecompressor() {
    }

    private static native long newDecompressor();

    private static native int decode(long decompressor, ByteBuffer in, int inPosition, int inLength, ByteBuffer out,
                                     int outPosition, int outLength);

    @Override
    public void decompress(ByteBuffer input, ByteBuffer output) throws DataFormatException {
        if (!input.isDirect() || !output.isDirect()) {
            DeflateClusterDecompressor.INSTANCE.decompress(input, output);
            return;
        }
        int wanted = output.remaining();
        long decompressor = take();
        int result;
        try {
            result = decode(decompressor, input, input.position(), input.remaining(), output, output.position(), wanted);
        } finally {
            giveBack(decompressor);
        }
        if (result != wanted) {
            throw new DataFormatException(switch (result) {
                case -1 -> "deflate stream is malformed";
                case -2 -> "deflate stream ended before " + wanted + " bytes";
                case -3 -> "deflate stream holds more than " + wanted + " bytes";
                default -> result < 0 ? "libdeflate failed (" + result + ")"
                        : "deflate stream ended after " + result + " of " + wanted + " bytes";
            });
        }
    }

    private synchronized long take() {
        if (idleCount > 0) {
            return idle[--idleCount];
        }
        long decompressor = newDecompressor();
        if (decompressor == 0) {
            throw new OutOfMemoryError("libdeflate could not allocate a decompressor");
        }
        return decompressor;
    }

    private synchronized void giveBack(long decompressor) {
        if (idleCount == idle.length) {
            idle = Arrays.copyOf(idle, idleCount * 2);
        }
        idle[idleCount++] = decompressor;
    }

    private static LibdeflateDecompressor load() {
        if ("zlib".equals(System.getProperty("branchboot.deflate"))) {
            return null;
        }
        try {
            String given = System.getProperty("branchboot.deflate.library");
            Path library = given != null && Files.isRegularFile(Path.of(given)) ? Path.of(given) : unpacked();
            if (library == null) {
                return null;
            }
            System.load(library.toString());
            return new LibdeflateDecompressor();
        } catch (IOException | RuntimeException | UnsatisfiedLinkError e) {
            LOG.log(Level.FINE, "libdeflate decoder unavailable, using zlib: " + e, e);
            return null;
        }
    }

    /** The library from the jar, unpacked under a name that changes with its content. */
    private static Path unpacked() throws IOException {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return null;
        }
        byte[] bytes;
        try (InputStream in = LibdeflateDecompressor.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return null;
            }
            bytes = in.readAllBytes();
        }
        String digest;
        try {
            digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
        return NativeLibraryCache.unpack("libbranchboot-deflate-" + digest + ".so", new ByteArrayInputStream(bytes));
    }
}
