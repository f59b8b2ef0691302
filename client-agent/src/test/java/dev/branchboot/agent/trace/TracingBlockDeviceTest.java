package dev.branchboot.agent.trace;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.blockdev.BlockDevice;
import dev.branchboot.agent.blockdev.BlockDeviceFilter;
import dev.branchboot.agent.blockdev.MemoryDevice;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A traced device records each read with the fetches made on its thread, and fetches made on
 * other threads as background lines, without changing a byte of what is read.
 */
class TracingBlockDeviceTest {
    @TempDir
    Path dir;

    @Test
    void readsCarryTheFetchesMadeWhileServingThemAndOthersAreBackground() throws Exception {
        Path file = dir.resolve("trace.txt");
        MemoryDevice memory = MemoryDevice.random(1 << 20, 7);
        ReadTrace trace = ReadTrace.start(file);
        // Below the tracing layer, a "fetching" layer that reports what it would have fetched.
        BlockDevice fetching = new BlockDeviceFilter(memory) {
            @Override
            public void read(long offset, ByteBuffer dst) throws java.io.IOException {
                trace.fetched("disk.qcow2", offset / 2, dst.remaining() / 2, System.nanoTime(), System.nanoTime());
                if (offset == 8192) {
                    trace.fetched("base.qcow2", 0, 512, System.nanoTime(), System.nanoTime());
                }
                super.read(offset, dst);
            }
        };
        trace.describe("disk.qcow2", memory.size());
        try (BlockDevice device = new TracingBlockDevice(fetching, trace)) {
            ByteBuffer first = ByteBuffer.allocate(4096);
            device.read(0, first);
            assertArrayEquals(Arrays.copyOfRange(memory.bytes(), 0, 4096), first.array());
            device.read(8192, ByteBuffer.allocate(1000));
            Thread background = new Thread(() -> trace.fetched("disk.qcow2", 99_000, 65_536, System.nanoTime(), System.nanoTime()));
            background.start();
            background.join();
        }
        trace.close();
        List<String> lines = Files.readAllLines(file);
        assertEquals("# branchboot-trace 1", lines.get(0));
        assertEquals("# image disk.qcow2 size " + memory.size(), lines.get(1));
        assertEquals("# file 0 disk.qcow2", lines.get(2));
        assertTrue(lines.get(3).matches("R \\d+ \\d+ 0 4096 0:0\\+2048"), lines.get(3));
        assertEquals("# file 1 base.qcow2", lines.get(4));
        assertTrue(lines.get(5).matches("R \\d+ \\d+ 8192 1000 0:4096\\+500 1:0\\+512"), lines.get(5));
        assertTrue(lines.get(6).matches("F \\d+ \\d+ 0:99000\\+65536"), lines.get(6));
        assertEquals(7, lines.size(), String.join("\n", lines));
    }

    @Test
    void aTraceThatCannotBeWrittenNeverFailsARead() throws Exception {
        // /dev/full accepts the open and fails every write with ENOSPC.
        ReadTrace trace = ReadTrace.start(Path.of("/dev/full"));
        MemoryDevice memory = MemoryDevice.random(1 << 20, 8);
        try (BlockDevice device = new TracingBlockDevice(memory, trace)) {
            for (int i = 0; i < 100; i++) {
                ByteBuffer block = ByteBuffer.allocate(65_536);
                device.read((long) i * 4096, block);
                assertArrayEquals(Arrays.copyOfRange(memory.bytes(), i * 4096, i * 4096 + 65_536), block.array());
            }
        }
        trace.close();
    }
}
