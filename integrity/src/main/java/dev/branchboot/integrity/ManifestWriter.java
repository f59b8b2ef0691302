package dev.branchboot.integrity;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Signature;
import java.time.Instant;

/**
 * Makes the signed manifest of an image file at publish time (the format is described at
 * {@link ImageManifest}): one pass over the file, digests of every 4 KiB block and of the whole
 * file, signed with the publisher's Ed25519 key together with the image's name, the revision
 * file's name and the time of signing. The manifest is written beside the image under a temporary
 * name and renamed into place, so a reader never sees half of one.
 */
public final class ManifestWriter {
    private ManifestWriter() {
    }

    /**
     * Writes {@code IMAGE.manifest} beside {@code image}, signed with {@code key} now, for the image
     * name the publishing convention gives its file name ({@link ImageManifest#defaultImageName}).
     *
     * @param progress told of the bytes read so far, for a progress line; may be {@code null}
     * @return the manifest's path
     */
    public static Path write(Path image, PrivateKey key, java.util.function.LongConsumer progress) throws IOException {
        return write(image, ImageManifest.defaultImageName(image.getFileName().toString()), Instant.now(), key, progress);
    }

    /**
     * Writes {@code IMAGE.manifest} beside {@code image}, signed with {@code key}.
     *
     * @param imageName the name clients ask for, relative to the images folder ({@code lab/win11.qcow2});
     *                  the revision file's signed name is its folder and {@code image}'s file name
     * @param published the publication time that orders this revision after earlier ones
     * @param progress  told of the bytes read so far, for a progress line; may be {@code null}
     * @return the manifest's path
     * @throws IllegalArgumentException when {@code imageName} is not a valid name ({@link ImageManifest#checkName})
     */
    public static Path write(Path image, String imageName, Instant published, PrivateKey key,
            java.util.function.LongConsumer progress) throws IOException {
        ImageManifest.checkName(imageName);
        int slash = imageName.lastIndexOf('/');
        String fileName = imageName.substring(0, slash + 1) + image.getFileName();
        ImageManifest.checkName(fileName);
        byte[] imageNameBytes = imageName.getBytes(StandardCharsets.UTF_8);
        byte[] fileNameBytes = fileName.getBytes(StandardCharsets.UTF_8);
        Path manifest = image.toAbsolutePath().resolveSibling(image.getFileName() + ".manifest");
        long size = Files.size(image);
        int blockSize = ImageManifest.BLOCK_SIZE;
        int perPage = ImageManifest.BLOCKS_PER_PAGE;
        long blocks = (size + blockSize - 1) / blockSize;
        int pageCount = ImageManifest.pageCount(size, blockSize, perPage);
        byte[] blockDigests = new byte[Math.toIntExact(blocks * ImageManifest.DIGEST_LENGTH)];
        MessageDigest whole = ImageManifest.sha256();
        MessageDigest block = ImageManifest.sha256();
        try (InputStream in = Files.newInputStream(image)) {
            byte[] buffer = new byte[1 << 20];
            long done = 0;
            int n;
            while ((n = in.readNBytes(buffer, 0, buffer.length)) > 0) {
                whole.update(buffer, 0, n);
                for (int at = 0; at < n; at += blockSize) {
                    block.reset();
                    block.update(buffer, at, Math.min(blockSize, n - at));
                    long index = (done + at) / blockSize;
                    System.arraycopy(block.digest(), 0, blockDigests, (int) (index * ImageManifest.DIGEST_LENGTH),
                            ImageManifest.DIGEST_LENGTH);
                }
                done += n;
                if (progress != null) {
                    progress.accept(done);
                }
            }
            if (done != size) {
                throw new IOException(image + " changed length while it was read (" + done + " of " + size + " bytes)");
            }
        }
        ByteBuffer head = ByteBuffer.allocate(ImageManifest.HEAD_LENGTH + pageCount * ImageManifest.DIGEST_LENGTH
                + imageNameBytes.length + fileNameBytes.length);
        head.put(ImageManifest.MAGIC).putInt(blockSize).putLong(size).putInt(perPage).put(whole.digest())
                .putLong(published.toEpochMilli()).putShort((short) imageNameBytes.length).putShort((short) fileNameBytes.length)
                .putInt(pageCount).putInt(64);
        MessageDigest page = ImageManifest.sha256();
        int pageBytes = perPage * ImageManifest.DIGEST_LENGTH;
        for (int p = 0; p < pageCount; p++) {
            page.reset();
            page.update(blockDigests, p * pageBytes, Math.min(pageBytes, blockDigests.length - p * pageBytes));
            head.put(page.digest());
        }
        head.put(imageNameBytes).put(fileNameBytes);
        byte[] signature;
        try {
            Signature signer = Signature.getInstance("Ed25519");
            signer.initSign(key);
            signer.update(head.array());
            signature = signer.sign();
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot sign the manifest of " + image + ": " + e.getMessage(), e);
        }
        Path temporary = Files.createTempFile(manifest.getParent(), "." + manifest.getFileName(), ".part");
        try {
            try (OutputStream out = Files.newOutputStream(temporary)) {
                out.write(head.array());
                out.write(signature);
                out.write(blockDigests);
            }
            try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.WRITE)) {
                channel.force(true);
            }
            readableAsTheImage(image, temporary);
            Files.move(temporary, manifest, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(temporary);
        }
        return manifest;
    }

    /**
     * Gives the manifest the image's permissions. A temporary file is made owner-only, and a
     * manifest left so would be answered 403 by a web server running as another user (nginx as
     * www-data, say), so every agent with a trust key would refuse an image it could read.
     */
    private static void readableAsTheImage(Path image, Path manifest) throws IOException {
        try {
            Files.setPosixFilePermissions(manifest, Files.getPosixFilePermissions(image));
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: it has no owner-only default to undo
        }
    }
}
