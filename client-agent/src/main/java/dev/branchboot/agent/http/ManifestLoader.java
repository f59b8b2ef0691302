package dev.branchboot.agent.http;

import dev.branchboot.agent.text.PeerText;
import dev.branchboot.integrity.ImageManifest;
import dev.branchboot.integrity.ImageVerifier;
import dev.branchboot.integrity.ManifestException;
import dev.branchboot.integrity.TrustKey;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.logging.Logger;

/**
 * Loads and checks the signed manifest of an image revision at open, from the same servers:
 * {@code REVISION.manifest}, read like any file (pinned, retried, failed over), its head checked
 * against the trust key, the name asked for, the revisions accepted before, and the image's pinned
 * length; its pages of block digests are read later, when a read first needs them.
 */
final class ManifestLoader {
    private static final Logger LOG = Logger.getLogger(ManifestLoader.class.getName());

    /** A manifest is a flat file: nothing inside it names a backing file to open. */
    private static final BackingFileOpener NO_BACKING_FILE = path -> {
        throw new IllegalStateException("a manifest has no backing file, yet '" + path + "' was asked for");
    };

    private ManifestLoader() {
    }

    /**
     * The verifier of {@code image}'s bytes, opened for the name {@code requested}: its manifest,
     * fetched on {@code transport}, checked against {@code trustKey}, the name, the revisions
     * {@code trustKey} accepted before ({@link dev.branchboot.integrity.AcceptedRevisions}) and the
     * image's pinned length.
     *
     * @throws ManifestException naming the image when the manifest is missing, truncated, not signed
     *                           by {@code trustKey}, signed for another image, older than a revision
     *                           already accepted for the name, or describes another file
     */
    static ImageVerifier load(HttpTransport transport, HttpRangeSource image, String requested, TrustKey trustKey)
            throws IOException {
        String name = image.name();
        HttpRangeSource manifest;
        try {
            manifest = HttpRangeSource.open(transport, image.path() + ".manifest", null, NO_BACKING_FILE);
        } catch (HttpImageException e) {
            throw new ManifestException(name, "a trust key is configured but the image has no manifest ("
                    + PeerText.escape(image.path()) + ".manifest): " + e.getMessage(), e);
        }
        ByteBuffer first = read(manifest, 0, (int) Math.min(ImageManifest.HEAD_LENGTH, manifest.size()));
        int headLength = ImageManifest.headLength(name, first);
        if (headLength > manifest.size()) {
            throw new ManifestException(name, "the manifest is truncated (" + manifest.size() + " bytes, its head needs "
                    + headLength + ")");
        }
        ImageManifest checked = ImageManifest.verify(name, read(manifest, 0, headLength), trustKey.publicKey());
        if (checked.imageSize() != image.size()) {
            throw new ManifestException(name, "the manifest describes a file of " + checked.imageSize() + " bytes, the server's "
                    + "has " + image.size() + " (a manifest of another revision?)");
        }
        if (checked.fileLength() != manifest.size()) {
            throw new ManifestException(name, "the manifest has " + manifest.size() + " bytes, its head describes "
                    + checked.fileLength());
        }
        trustKey.accepted().check(requested, checked);
        LOG.info("manifest of " + name + " signed by the trusted key: " + checked.revision() + ", image '" + checked.imageName()
                + "' published " + checked.published());
        return new ImageVerifier(checked, (offset, length) -> read(manifest, offset, length).array());
    }

    private static ByteBuffer read(HttpRangeSource source, long offset, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        source.fetch(offset, buffer.duplicate()); // fetch leaves its buffer's position unspecified
        return buffer;
    }
}
