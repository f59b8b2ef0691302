package dev.branchboot.integrity;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The native block digests give exactly Java's SHA-256 for every length around the padding's edges
 * (55/56/64 bytes and their neighbours), for short last blocks, at array offsets and in direct
 * buffers. The build makes the library with gcc and this module's tests load it; on a CPU with the
 * SHA extensions it must be in use, so these comparisons really run the native code.
 */
class NativeSha256Test {
    @BeforeAll
    static void nativeDigestsRunWhereTheyCan() throws IOException {
        String library = System.getProperty(NativeSha256.LIBRARY_PROPERTY, "");
        boolean built = !library.isEmpty() && Files.isRegularFile(Path.of(library));
        boolean cpuHasSha = Files.readString(Path.of("/proc/cpuinfo")).contains(" sha_ni");
        if (built && cpuHasSha) {
            assertTrue(NativeSha256.available(), NativeSha256.status());
        }
        assumeTrue(NativeSha256.available(), "native SHA-256 not in use here: " + NativeSha256.status());
    }

    @Test
    void everyLengthAroundThePaddingEdgesMatchesJava() throws Exception {
        byte[] data = randomBytes(300, 1);
        for (int length = 1; length <= 300; length++) {
            ByteBuffer one = ByteBuffer.wrap(data, 0, length);
            byte[] out = new byte[32];
            assertTrue(NativeSha256.digestBlocks(one, 4096, out));
            assertArrayEquals(sha256(data, 0, length), out, "length " + length);
        }
    }

    @Test
    void blocksWithAShortLastOneAtAnArrayOffsetMatchJava() throws Exception {
        byte[] data = randomBytes(70_000, 2);
        int offset = 17;
        int length = 3 * 4096 + 1000;
        ByteBuffer bytes = ByteBuffer.wrap(data, offset, length).slice();
        byte[] out = new byte[4 * 32];
        assertTrue(NativeSha256.digestBlocks(bytes, 4096, out));
        for (int i = 0; i < 4; i++) {
            int blockLength = Math.min(4096, length - i * 4096);
            assertArrayEquals(sha256(data, offset + i * 4096, blockLength), Arrays.copyOfRange(out, i * 32, (i + 1) * 32),
                    "block " + i);
        }
        assertEquals(offset, bytes.arrayOffset(), "the buffer is left as it was");
    }

    @Test
    void directBuffersMatchJava() throws Exception {
        byte[] data = randomBytes(1 << 20, 3);
        ByteBuffer direct = ByteBuffer.allocateDirect(data.length + 512);
        direct.position(512);
        direct.put(data);
        direct.position(512);
        byte[] out = new byte[256 * 32];
        assertTrue(NativeSha256.digestBlocks(direct, 4096, out));
        for (int i = 0; i < 256; i++) {
            assertArrayEquals(sha256(data, i * 4096, 4096), Arrays.copyOfRange(out, i * 32, (i + 1) * 32), "block " + i);
        }
        assertEquals(512, direct.position(), "the buffer is left as it was");
    }

    @Test
    void aReadOnlyHeapBufferIsLeftToJava() {
        ByteBuffer readOnly = ByteBuffer.wrap(new byte[4096]).asReadOnlyBuffer();
        byte[] out = new byte[32];
        assertFalse(NativeSha256.digestBlocks(readOnly, 4096, out));
        assertArrayEquals(new byte[32], out, "nothing written");
    }

    @Test
    void tooSmallAnOutputIsRefusedBeforeAnyNativeWrite() {
        ByteBuffer bytes = ByteBuffer.wrap(new byte[4097]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NativeSha256.digestBlocks(bytes, 4096, new byte[32]));
        assertTrue(e.getMessage().contains("4097 bytes in blocks of 4096"), e.getMessage());
    }

    private static byte[] randomBytes(int length, long seed) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static byte[] sha256(byte[] data, int offset, int length) throws Exception {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        digest.update(data, offset, length);
        return digest.digest();
    }
}
