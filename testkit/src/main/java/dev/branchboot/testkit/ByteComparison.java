package dev.branchboot.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** Byte comparisons that report the first differing offset, for tests. */
public final class ByteComparison {
    private ByteComparison() {
    }

    /** Returns the first offset where the files differ (or their lengths), or -1 when equal. */
    public static long firstDifference(Path a, Path b) throws IOException {
        try (InputStream x = Files.newInputStream(a); InputStream y = Files.newInputStream(b)) {
            byte[] bx = new byte[1 << 20];
            byte[] by = new byte[1 << 20];
            long offset = 0;
            while (true) {
                int nx = x.readNBytes(bx, 0, bx.length);
                int ny = y.readNBytes(by, 0, by.length);
                int mismatch = Arrays.mismatch(bx, 0, nx, by, 0, ny);
                if (mismatch >= 0) {
                    return offset + mismatch;
                }
                if (nx == 0) {
                    return -1;
                }
                offset += nx;
            }
        }
    }

    /** Compares two raw files hole-aware with {@code qemu-img compare}; true when the contents are equal. */
    public static boolean qemuImgCompareRaw(Path a, Path b) throws IOException {
        try {
            ConformanceImages.run(a.getParent() == null ? Path.of(".") : a.getParent(),
                    "qemu-img", "compare", "-q", "-f", "raw", "-F", "raw", a.toString(), b.toString());
            return true;
        } catch (IOException e) {
            if (e.getMessage().contains("exited with 1")) {
                return false;
            }
            throw e;
        }
    }
}
