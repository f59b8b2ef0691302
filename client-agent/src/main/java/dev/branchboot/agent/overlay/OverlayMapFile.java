package dev.branchboot.agent.overlay;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * The persisted allocation map of a file overlay. Written whole to a temporary file, synced, and
 * renamed over the old one, so after a crash the map is either the previous committed one or the
 * new one, never a torn mix. Layout (big-endian):
 *
 * <pre>
 * "BBCOWMAP" | u32 version | u32 block size | u64 disk size | u32 revision length | revision (UTF-8)
 * | u32 blocks per page | u32 page count | page count × (u32 page index | words) | u32 CRC-32C
 * </pre>
 */
final class OverlayMapFile {
    private static final long MAGIC = 0x4242434F574D4150L; // "BBCOWMAP"
    private static final int VERSION = 1;
    private static final int MAX_REVISION = 4096;

    private OverlayMapFile() {
    }

    /** What a map file says about the disk it belongs to, with its block states. */
    record Contents(int blockSize, long diskSize, String revision, BlockStates states) {
    }

    static void write(Path path, int blockSize, long diskSize, String revision, BlockStates states) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeLong(MAGIC);
        out.writeInt(VERSION);
        out.writeInt(blockSize);
        out.writeLong(diskSize);
        byte[] rev = revision.getBytes(StandardCharsets.UTF_8);
        out.writeInt(rev.length);
        out.write(rev);
        out.writeInt(BlockStates.PAGE_BLOCKS);
        int used = 0;
        for (int p = 0; p < states.pageCount(); p++) {
            if (states.page(p) != null) {
                used++;
            }
        }
        out.writeInt(used);
        for (int p = 0; p < states.pageCount(); p++) {
            long[] page = states.page(p);
            if (page != null) {
                out.writeInt(p);
                for (long word : page) {
                    out.writeLong(word);
                }
            }
        }
        out.flush();
        CRC32C crc = new CRC32C();
        crc.update(bytes.toByteArray());
        out.writeInt((int) crc.getValue());
        out.flush();

        Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buf = ByteBuffer.wrap(bytes.toByteArray());
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
        Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        syncDirectory(path.toAbsolutePath().getParent());
    }

    static Contents read(Path path, long expectedBlocks) throws IOException {
        byte[] all = Files.readAllBytes(path);
        String what = "overlay map " + path;
        if (all.length < 40) {
            throw new OverlayException(what + " is truncated (" + all.length + " bytes)");
        }
        CRC32C crc = new CRC32C();
        crc.update(all, 0, all.length - 4);
        ByteBuffer in = ByteBuffer.wrap(all);
        if ((int) crc.getValue() != in.getInt(all.length - 4)) {
            throw new OverlayException(what + " is corrupt (checksum mismatch); use --cow-reset to discard it");
        }
        try {
            if (in.getLong() != MAGIC) {
                throw new OverlayException(what + " is not an overlay map (bad magic)");
            }
            int version = in.getInt();
            if (version != VERSION) {
                throw new OverlayException(what + " has unsupported version " + version);
            }
            int blockSize = in.getInt();
            long diskSize = in.getLong();
            int revLength = in.getInt();
            if (revLength < 0 || revLength > MAX_REVISION) {
                throw new OverlayException(what + " has a bad revision length " + revLength);
            }
            byte[] rev = new byte[revLength];
            in.get(rev);
            int pageBlocks = in.getInt();
            if (pageBlocks != BlockStates.PAGE_BLOCKS) {
                throw new OverlayException(what + " uses " + pageBlocks + " blocks per page, expected " + BlockStates.PAGE_BLOCKS);
            }
            BlockStates states = new BlockStates(expectedBlocks);
            int pages = in.getInt();
            for (int i = 0; i < pages; i++) {
                int index = in.getInt();
                long[] words = new long[BlockStates.PAGE_LONGS];
                for (int w = 0; w < words.length; w++) {
                    words[w] = in.getLong();
                }
                states.loadPage(index, words);
            }
            if (in.remaining() != 4) {
                throw new OverlayException(what + " has " + (in.remaining() - 4) + " trailing bytes");
            }
            return new Contents(blockSize, diskSize, new String(rev, StandardCharsets.UTF_8), states);
        } catch (java.nio.BufferUnderflowException | IllegalArgumentException e) {
            throw new OverlayException(what + " is corrupt: " + e.getMessage(), e);
        }
    }

    /** Makes a rename durable: on Linux, syncing the directory commits its entries. */
    static void syncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // Some filesystems refuse to open or sync directories; the rename is then as durable as they allow.
        }
    }
}
