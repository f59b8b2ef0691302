package dev.branchboot.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.luben.zstd.Zstd;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;

/** The decompressors on hand-made streams: trailing bytes, several frames, skippable frames, damage. */
class ClusterDecompressorTest {
    private static final Random RANDOM = new Random(42);

    private static byte[] cluster(int size) {
        byte[] data = new byte[size];
        for (int i = 0; i < size; i++) {
            data[i] = (byte) (i % 97 < 60 ? 'a' + i % 7 : RANDOM.nextInt(256));
        }
        return data;
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static byte[] rawDeflate(byte[] data) {
        Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
        deflater.setInput(data);
        deflater.finish();
        byte[] out = new byte[data.length * 2 + 64];
        int n = deflater.deflate(out);
        deflater.end();
        return Arrays.copyOf(out, n);
    }

    private static byte[] decompress(ClusterDecompressor d, byte[] input, int size, boolean direct) throws DataFormatException {
        ByteBuffer in = direct ? ByteBuffer.allocateDirect(input.length).put(input).flip() : ByteBuffer.wrap(input);
        ByteBuffer out = direct ? ByteBuffer.allocateDirect(size) : ByteBuffer.allocate(size);
        d.decompress(in, out.duplicate());
        byte[] result = new byte[size];
        out.get(0, result);
        return result;
    }

    @Test
    void zstdFrameLengthAgreesWithLibzstd() throws DataFormatException {
        for (int size : new int[] {512, 4096, 65536, 2 << 20}) {
            byte[] frame = Zstd.compress(cluster(size));
            byte[] padded = concat(frame, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9});
            assertEquals(Zstd.findFrameCompressedSize(frame), ZstdClusterDecompressor.frameLength(ByteBuffer.wrap(padded), 0, padded.length));
        }
    }

    @Test
    void zstdStopsAtTheClusterSizeWhateverFollows() throws DataFormatException {
        for (boolean direct : new boolean[] {false, true}) {
            byte[] data = cluster(65536);
            byte[] trailing = concat(Zstd.compress(data), new byte[] {(byte) 0x28, (byte) 0xB5, (byte) 0x2F, (byte) 0xFD, 0, 0, 0});
            assertArrayEquals(data, decompress(ZstdClusterDecompressor.INSTANCE, trailing, data.length, direct));
            byte[] halves = concat(Zstd.compress(Arrays.copyOf(data, 30000)), Zstd.compress(Arrays.copyOfRange(data, 30000, 65536)),
                    new byte[100]);
            assertArrayEquals(data, decompress(ZstdClusterDecompressor.INSTANCE, halves, data.length, direct));
            byte[] skippable = concat(new byte[] {0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 9, 9, 9, 9}, Zstd.compress(data));
            assertArrayEquals(data, decompress(ZstdClusterDecompressor.INSTANCE, skippable, data.length, direct));
        }
    }

    @Test
    void zstdDamageIsADataFormatException() {
        byte[] data = cluster(65536);
        byte[] frame = Zstd.compress(data);
        byte[] cut = Arrays.copyOf(frame, frame.length / 2);
        assertThrows(DataFormatException.class, () -> decompress(ZstdClusterDecompressor.INSTANCE, cut, data.length, false));
        byte[] badMagic = frame.clone();
        badMagic[0] ^= 1;
        assertThrows(DataFormatException.class, () -> decompress(ZstdClusterDecompressor.INSTANCE, badMagic, data.length, false));
        byte[] tooShort = Zstd.compress(Arrays.copyOf(data, 1000));
        assertThrows(DataFormatException.class, () -> decompress(ZstdClusterDecompressor.INSTANCE, tooShort, data.length, false));
        byte[] tooLong = Zstd.compress(concat(data, data));
        assertThrows(DataFormatException.class, () -> decompress(ZstdClusterDecompressor.INSTANCE, tooLong, data.length, true));
    }

    @Test
    void deflateIgnoresTrailingBytesAndRejectsShortStreams() throws DataFormatException {
        for (boolean direct : new boolean[] {false, true}) {
            byte[] data = cluster(65536);
            byte[] stream = concat(rawDeflate(data), new byte[] {(byte) 0xFF, 0x13, 0x37});
            assertArrayEquals(data, decompress(DeflateClusterDecompressor.INSTANCE, stream, data.length, direct));
            byte[] shortStream = rawDeflate(Arrays.copyOf(data, 1000));
            assertThrows(DataFormatException.class, () -> decompress(DeflateClusterDecompressor.INSTANCE, shortStream, data.length, direct));
            byte[] garbage = new byte[500];
            Arrays.fill(garbage, (byte) 0xFF);
            assertThrows(DataFormatException.class, () -> decompress(DeflateClusterDecompressor.INSTANCE, garbage, data.length, direct));
        }
    }

    @Test
    void libdeflateIsBuiltAndAgreesWithZlibOnEveryKindOfStream() throws DataFormatException {
        assertNotNull(LibdeflateDecompressor.INSTANCE,
                "the libdeflate decoder did not load: is gcc or libdeflate-dev missing (scripts/install-deps.sh)?");
        assertSame(LibdeflateDecompressor.INSTANCE, ClusterDecompressor.of(CompressionType.DEFLATE));
        for (int level : new int[] {Deflater.NO_COMPRESSION, Deflater.BEST_SPEED, Deflater.DEFAULT_COMPRESSION, Deflater.BEST_COMPRESSION}) {
            for (int size : new int[] {512, 4096, 65536, 2 << 20}) {
                byte[] data = cluster(size);
                Deflater deflater = new Deflater(level, true);
                deflater.setInput(data);
                deflater.finish();
                byte[] out = new byte[size * 2 + 64];
                int n = deflater.deflate(out);
                deflater.end();
                byte[] stream = concat(Arrays.copyOf(out, n), new byte[] {7, 7, 7, 7});
                byte[] fast = decompress(LibdeflateDecompressor.INSTANCE, stream, size, true);
                assertArrayEquals(decompress(DeflateClusterDecompressor.INSTANCE, stream, size, true), fast, "level " + level + ", " + size);
                assertArrayEquals(data, fast);
                // Heap buffers take the zlib path and give the same bytes.
                assertArrayEquals(data, decompress(LibdeflateDecompressor.INSTANCE, stream, size, false));
            }
        }
    }

    @Test
    void libdeflateDamageIsADataFormatException() {
        assertNotNull(LibdeflateDecompressor.INSTANCE);
        byte[] data = cluster(65536);
        byte[] stream = rawDeflate(data);
        byte[] cut = Arrays.copyOf(stream, stream.length / 2);
        DataFormatException e = assertThrows(DataFormatException.class,
                () -> decompress(LibdeflateDecompressor.INSTANCE, cut, data.length, true));
        assertTrue(e.getMessage().contains("deflate"), e.getMessage());
        byte[] shortStream = rawDeflate(Arrays.copyOf(data, 1000));
        e = assertThrows(DataFormatException.class, () -> decompress(LibdeflateDecompressor.INSTANCE, shortStream, data.length, true));
        assertTrue(e.getMessage().contains("1000 of 65536"), e.getMessage());
        byte[] tooLong = rawDeflate(concat(data, data));
        e = assertThrows(DataFormatException.class, () -> decompress(LibdeflateDecompressor.INSTANCE, tooLong, data.length, true));
        assertTrue(e.getMessage().contains("more than 65536"), e.getMessage());
        byte[] garbage = new byte[500];
        Arrays.fill(garbage, (byte) 0xFF);
        assertThrows(DataFormatException.class, () -> decompress(LibdeflateDecompressor.INSTANCE, garbage, data.length, true));
    }
}
