package dev.branchboot.agent.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.blockdev.MemoryDevice;
import dev.branchboot.agent.overlay.CowOverlay;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training run's client against the agent's own server: negotiation, batches, writes. */
class NbdClientTest {
    static final int SIZE = (1 << 20) + 4096;

    @TempDir
    Path dir;
    MemoryDevice image;
    NbdServer server;
    SocketAddress address;

    @BeforeEach
    void start() throws IOException {
        image = MemoryDevice.random(SIZE, 7);
        server = new NbdServer(new NbdExport("disk", CowOverlay.inRam(image, 256 * 1024)), new NbdServer.Limits(4, 64 << 20, 16));
        address = server.listen(UnixDomainSocketAddress.of(dir.resolve("nbd.sock")));
    }

    @AfterEach
    void stop() {
        server.shutdown();
    }

    @Test
    void negotiatesTheExportAndItsSize() throws IOException {
        try (NbdClient client = NbdClient.connect(address, "disk")) {
            assertEquals(SIZE, client.size());
            assertTrue(client.writable());
        }
    }

    @Test
    void aBatchComesBackInRequestOrderWhateverOrderTheRepliesTake() throws IOException {
        byte[] bytes = image.bytes();
        long[] offsets = {SIZE - 4096, 0, 512 * 1024, 4096, 777 * 512};
        int[] lengths = {4096, 65536, 131072, 512, 1024};
        try (NbdClient client = NbdClient.connect(address, "disk")) {
            ByteBuffer served = client.readBatch(offsets, lengths);
            int at = 0;
            for (int i = 0; i < offsets.length; i++) {
                byte[] expected = Arrays.copyOfRange(bytes, (int) offsets[i], (int) offsets[i] + lengths[i]);
                byte[] got = new byte[lengths[i]];
                served.get(at, got);
                assertArrayEquals(expected, got, "read " + i + " at offset " + offsets[i]);
                at += lengths[i];
            }
        }
    }

    @Test
    void aWriteReadsBackAfterAFlush() throws IOException {
        ByteBuffer pattern = ByteBuffer.allocate(8192);
        for (int i = 0; i < pattern.capacity(); i++) {
            pattern.put(i, (byte) (i % 251));
        }
        try (NbdClient client = NbdClient.connect(address, "disk")) {
            client.write(8192, pattern);
            client.flush();
            assertEquals(pattern.rewind(), client.readBatch(new long[] {8192}, new int[] {8192}));
        }
    }

    @Test
    void anUnknownExportIsRefusedByName() {
        IOException e = assertThrows(IOException.class, () -> NbdClient.connect(address, "other"));
        assertTrue(e.getMessage().contains("refused export 'other'"), e.getMessage());
    }

    @Test
    void aReadPastTheEndFailsNamingItsOffset() throws IOException {
        try (NbdClient client = NbdClient.connect(address, "disk")) {
            IOException e = assertThrows(IOException.class, () -> client.readBatch(new long[] {SIZE}, new int[] {4096}));
            assertTrue(e.getMessage().contains("offset " + SIZE), e.getMessage());
        }
    }
}
