package dev.branchboot.agent.overlay;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.blockdev.DeviceFullException;
import dev.branchboot.agent.blockdev.MemoryDevice;
import dev.branchboot.qcow2.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The overlay against an in-memory model: random writes, zeroes, trims and reads at odd offsets. */
class CowOverlayTest {
    static final int SIZE = 3 * 1024 * 1024 + 777; // the last block is partial

    @TempDir
    Path dir;

    CowOverlay overlay(String kind, MemoryDevice image) throws IOException {
        return kind.equals("ram") ? CowOverlay.inRam(image, 64L << 20)
                : CowOverlay.inFile(image, dir.resolve("overlay.cow"), "rev-1", false);
    }

    static byte[] read(CowOverlay o, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        o.read(offset, b);
        assertEquals(length, b.position());
        return b.array();
    }

    @ParameterizedTest
    @ValueSource(strings = {"ram", "file"})
    void randomOperationsMatchTheModel(String kind) throws IOException {
        MemoryDevice image = MemoryDevice.random(SIZE, 3);
        byte[] pristine = image.bytes();
        byte[] model = image.bytes();
        boolean[] unknown = new boolean[SIZE]; // trimmed: contents unspecified until written
        Random random = new Random(11);
        try (CowOverlay o = overlay(kind, image)) {
            for (int step = 0; step < 3000; step++) {
                int length = random.nextInt(4) == 0 ? 1 + random.nextInt(300_000) : 1 + random.nextInt(9000);
                long offset = random.nextInt(SIZE - length + 1);
                switch (random.nextInt(6)) {
                    case 0, 1 -> {
                        byte[] data = new byte[length];
                        random.nextBytes(data);
                        o.write(offset, ByteBuffer.wrap(data), random.nextInt(10) == 0);
                        System.arraycopy(data, 0, model, (int) offset, length);
                        Arrays.fill(unknown, (int) offset, (int) offset + length, false);
                    }
                    case 2 -> {
                        o.zero(offset, length, random.nextBoolean(), false);
                        Arrays.fill(model, (int) offset, (int) offset + length, (byte) 0);
                        Arrays.fill(unknown, (int) offset, (int) offset + length, false);
                    }
                    case 3 -> {
                        o.trim(offset, length, false);
                        Arrays.fill(unknown, (int) offset, (int) offset + length, true);
                    }
                    case 4 -> {
                        byte[] got = read(o, offset, length);
                        for (int i = 0; i < length; i++) {
                            if (!unknown[(int) offset + i] && got[i] != model[(int) offset + i]) {
                                throw new AssertionError("step " + step + ": byte " + (offset + i) + " is " + got[i]
                                        + ", expected " + model[(int) offset + i]);
                            }
                        }
                    }
                    default -> checkBlockStatus(o, offset, length);
                }
                if (random.nextInt(200) == 0) {
                    o.flush();
                }
            }
            byte[] all = read(o, 0, SIZE);
            for (int i = 0; i < SIZE; i++) {
                if (!unknown[i]) {
                    assertEquals(model[i], all[i], "byte " + i);
                }
            }
            checkBlockStatus(o, 0, SIZE);
        }
        assertArrayEquals(pristine, image.bytes(), "the image is never written");
        assertTrue(image.closed());
    }

    /** Extents start at the offset, are adjacent, stay inside the range, and zero ones read as zeros. */
    static void checkBlockStatus(CowOverlay o, long offset, long length) throws IOException {
        List<Extent> extents = o.blockStatus(offset, length);
        assertTrue(!extents.isEmpty());
        long at = offset;
        for (Extent e : extents) {
            assertEquals(at, e.offset());
            at = e.end();
            if (e.allocation().readsAsZeros()) {
                assertArrayEquals(new byte[(int) e.length()], read(o, e.offset(), (int) e.length()), "extent " + e);
            }
        }
        assertTrue(at <= offset + length);
    }

    @Test
    void concurrentWritesToDifferentPartsOfOneBlockAllLand() throws Exception {
        MemoryDevice image = MemoryDevice.random(1 << 20, 5);
        byte[] model = image.bytes();
        int threads = 8;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (CowOverlay o = CowOverlay.inRam(image, 16L << 20)) {
            List<Future<?>> futures = new ArrayList<>();
            // Thread t owns bytes whose (offset / 700) % threads == t: its writes share blocks with the others'.
            byte[][] finals = new byte[threads][];
            for (int t = 0; t < threads; t++) {
                int me = t;
                futures.add(pool.submit(() -> {
                    Random r = new Random(me);
                    for (int round = 0; round < 20; round++) {
                        for (int piece = me * 700; piece < (1 << 20); piece += threads * 700) {
                            int n = Math.min(700, (1 << 20) - piece);
                            byte[] data = new byte[n];
                            r.nextBytes(data);
                            o.write(piece, ByteBuffer.wrap(data), false);
                            synchronized (model) {
                                System.arraycopy(data, 0, model, piece, n);
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
            assertArrayEquals(model, read(o, 0, 1 << 20));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void ramOverlayIsBoundedAndSaysENOSPC() throws IOException {
        MemoryDevice image = MemoryDevice.random(1 << 20, 1);
        try (CowOverlay o = CowOverlay.inRam(image, 64 * 1024)) {
            o.write(0, ByteBuffer.allocate(64 * 1024), false);
            DeviceFullException e = assertThrows(DeviceFullException.class, () -> o.write(100_000, ByteBuffer.allocate(1), false));
            assertTrue(e.getMessage().contains("offset 100000"), e.getMessage());
            o.write(10, ByteBuffer.wrap(new byte[] {7}), false); // rewriting stored blocks needs no room
            o.zero(0, 64 * 1024, true, false);
            assertEquals(0, o.storedBytes(), "zeroed blocks free their storage");
            o.write(100_000, ByteBuffer.wrap(new byte[] {9}), false);
            assertEquals(9, read(o, 100_000, 1)[0]);
        }
    }

    @Test
    void fileOverlayPersistsAndRefusesAnotherRevision() throws IOException {
        MemoryDevice image = MemoryDevice.random(SIZE, 8);
        Path file = dir.resolve("pc.cow");
        byte[] data = new byte[20000];
        new Random(2).nextBytes(data);
        try (CowOverlay o = CowOverlay.inFile(image, file, "rev-A", false)) {
            o.write(5000, ByteBuffer.wrap(data), false);
            o.zero(100_000, 50_000, true, false);
            o.flush();
            assertThrows(OverlayException.class, () -> CowOverlay.inFile(image, file, "rev-A", false), "in use");
        }
        try (CowOverlay o = CowOverlay.inFile(image, file, "rev-A", false)) {
            assertArrayEquals(data, read(o, 5000, data.length));
            assertArrayEquals(new byte[50_000], read(o, 100_000, 50_000));
        }
        OverlayMismatchException mismatch = assertThrows(OverlayMismatchException.class,
                () -> CowOverlay.inFile(image, file, "rev-B", false));
        assertTrue(mismatch.getMessage().contains("rev-A") && mismatch.getMessage().contains("--cow-reset"), mismatch.getMessage());
        try (CowOverlay o = CowOverlay.inFile(image, file, "rev-B", true)) {
            assertArrayEquals(Arrays.copyOfRange(image.bytes(), 5000, 5000 + data.length), read(o, 5000, data.length));
        }
        // A damaged map is an error, not silently an empty overlay.
        Path map = dir.resolve("pc.cow.map");
        byte[] bytes = Files.readAllBytes(map);
        bytes[bytes.length / 2] ^= 1;
        Files.write(map, bytes);
        OverlayException corrupt = assertThrows(OverlayException.class, () -> CowOverlay.inFile(image, file, "rev-B", false));
        assertTrue(corrupt.getMessage().contains("corrupt"), corrupt.getMessage());
    }

    @Test
    void blockStatesRunsSkipEmptyPages() {
        BlockStates s = new BlockStates(10L * BlockStates.PAGE_BLOCKS + 5);
        assertEquals(s.blocks(), s.runEnd(0, s.blocks()));
        s.set(3L * BlockStates.PAGE_BLOCKS + 7, BlockStates.DATA);
        assertEquals(3L * BlockStates.PAGE_BLOCKS + 7, s.runEnd(0, s.blocks()));
        assertEquals(3L * BlockStates.PAGE_BLOCKS + 8, s.runEnd(3L * BlockStates.PAGE_BLOCKS + 7, s.blocks()));
        assertEquals(1, s.dataBlocks());
        s.set(3L * BlockStates.PAGE_BLOCKS + 7, BlockStates.ZERO);
        assertEquals(0, s.dataBlocks());
    }
}
