package dev.branchboot.agent.serve;

import dev.branchboot.qcow2.VirtualDisk;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Identifies the revision of a local image so a file overlay can refuse to attach to another one.
 * Hashing a whole multi-gigabyte image at every start would delay boot, so the revision is a
 * SHA-256 over each file of the chain's size, its first and last 4 MiB (the QCOW2 header, L1 table,
 * refcount structures and the most recently appended clusters) and 256 evenly spaced 4 KiB samples.
 * A rebuilt image changes at least its metadata, which these cover. (Over HTTP the server's
 * revision identifier replaces this.)
 */
public final class ImageRevision {
    private static final int EDGE = 4 << 20;
    private static final int SAMPLES = 256;
    private static final int SAMPLE = 4096;

    private ImageRevision() {
    }

    /** The revision of {@code disk} and the files below it, as "sha256:HEX". */
    public static String of(VirtualDisk disk) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
        digest.update(Long.toString(disk.size()).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        // Walk the chain directly: info() would map the whole image just to count clusters.
        for (VirtualDisk layer = disk; layer != null; layer = layer.backing()) {
            Path file = Path.of(layer.name());
            if (Files.isRegularFile(file)) {
                fingerprint(file, digest);
            } else {
                digest.update(layer.name().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
        }
        return "sha256:" + HexFormat.of().formatHex(digest.digest()).substring(0, 32);
    }

    private static void fingerprint(Path file, MessageDigest digest) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            digest.update(ByteBuffer.allocate(8).putLong(0, size));
            update(ch, digest, 0, Math.min(EDGE, size));
            update(ch, digest, Math.max(0, size - EDGE), Math.min(EDGE, size));
            for (int i = 0; i < SAMPLES; i++) {
                long at = size * i / SAMPLES;
                update(ch, digest, at, Math.min(SAMPLE, size - at));
            }
        }
    }

    private static void update(FileChannel ch, MessageDigest digest, long offset, long length) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate((int) length);
        while (buf.hasRemaining()) {
            if (ch.read(buf, offset + buf.position()) < 0) {
                break;
            }
        }
        buf.flip();
        digest.update(buf);
    }
}
