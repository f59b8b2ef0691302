package dev.branchboot.integrity;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Manifests made by {@link ManifestWriter} with keys made by OpenSSL: the head is accepted only with
 * the publisher's key and intact, pages only when they match their signed digests, and an image's
 * bytes only where they are the bytes the publisher signed.
 */
class ImageManifestTest {
    @TempDir
    Path dir;
    private Path image;
    private byte[] bytes;
    private Path manifestFile;
    private byte[] manifest;
    private KeyPair publisher;

    @BeforeEach
    void publish() throws Exception {
        // 2.5 MiB and a bit: three pages, the last one short, the last block short.
        bytes = new byte[(5 << 19) + 1234];
        new Random(1).nextBytes(bytes);
        image = dir.resolve("win11@1.qcow2");
        Files.write(image, bytes);
        OpenSsl.run("genpkey", "-algorithm", "ed25519", "-out", dir.resolve("key.pem").toString());
        OpenSsl.run("pkey", "-in", dir.resolve("key.pem").toString(), "-pubout", "-out", dir.resolve("pub.pem").toString());
        manifestFile = ManifestWriter.write(image, PemKeys.privateKey(dir.resolve("key.pem")), null);
        manifest = Files.readAllBytes(manifestFile);
        KeyPairGenerator generator = KeyPairGenerator.getInstance("Ed25519");
        publisher = generator.generateKeyPair();
    }

    private ImageManifest verified() throws IOException {
        return ImageManifest.verify("win11@1.qcow2", ByteBuffer.wrap(manifest), PemKeys.publicKey(dir.resolve("pub.pem")));
    }

    private ImageVerifier verifier(ImageManifest head, AtomicInteger reads) {
        return new ImageVerifier(head, (offset, length) -> {
            reads.incrementAndGet();
            return Arrays.copyOfRange(manifest, (int) offset, (int) offset + length);
        });
    }

    @Test
    void theManifestIsAsReadableAsTheImageItDescribes() throws Exception {
        for (String mode : new String[] {"rw-r--r--", "rw-r-----"}) {
            Files.setPosixFilePermissions(image, java.nio.file.attribute.PosixFilePermissions.fromString(mode));
            Path written = ManifestWriter.write(image, PemKeys.privateKey(dir.resolve("key.pem")), null);
            assertEquals(mode, java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(written)),
                    "a web server that may read the image may read its manifest");
        }
    }

    @Test
    void aManifestDescribesTheImageAndItsBytesCheckOut() throws Exception {
        assertEquals(manifestFile, image.resolveSibling("win11@1.qcow2.manifest"));
        ImageManifest head = verified();
        assertEquals(bytes.length, head.imageSize());
        assertEquals(3, head.pageCount());
        assertEquals(manifest.length, head.fileLength());
        assertEquals("sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)), head.revision());
        int headLength = ImageManifest.headLength("x", ByteBuffer.wrap(manifest, 0, ImageManifest.HEAD_LENGTH));
        assertTrue(headLength < 300 && headLength < bytes.length / 100, "the head a reader fetches at open: " + headLength);
        AtomicInteger pageReads = new AtomicInteger();
        ImageVerifier verifier = verifier(head, pageReads);
        assertDoesNotThrow(() -> verifier.verify(0, ByteBuffer.wrap(bytes)), "the whole image");
        assertEquals(3, pageReads.get());
        assertDoesNotThrow(() -> verifier.verify(8192, ByteBuffer.wrap(bytes, 8192, 4096)));
        long lastBlock = bytes.length - 1234;
        assertDoesNotThrow(() -> verifier.verify(lastBlock, ByteBuffer.wrap(bytes, (int) lastBlock, 1234)), "the short last block");
        assertEquals(3, pageReads.get(), "pages are kept once read");
    }

    @Test
    void bytesThatAreNotTheSignedOnesAreRefusedNamingTheImageAndOffset() throws Exception {
        ImageVerifier verifier = verifier(verified(), new AtomicInteger());
        byte[] tampered = Arrays.copyOfRange(bytes, 1 << 20, (1 << 20) + 65536);
        tampered[5000] ^= 1;
        ManifestException e = assertThrows(ManifestException.class, () -> verifier.verify(1 << 20, ByteBuffer.wrap(tampered)));
        assertTrue(e.getMessage().contains("win11@1.qcow2") && e.getMessage().contains("bytes " + ((1 << 20) + 4096) + ".."),
                e.getMessage());
        // A read-only buffer cannot go to the native digests: Java's SHA-256 checks it, with the same verdicts.
        ManifestException javaChecked = assertThrows(ManifestException.class,
                () -> verifier.verify(1 << 20, ByteBuffer.wrap(tampered).asReadOnlyBuffer()));
        assertEquals(e.getMessage(), javaChecked.getMessage());
        assertDoesNotThrow(() -> verifier.verify(0, ByteBuffer.wrap(bytes).asReadOnlyBuffer()), "the whole image, in Java");
        long lastBlock = bytes.length - 1234;
        assertDoesNotThrow(() -> verifier.verify(lastBlock, ByteBuffer.wrap(bytes, (int) lastBlock, 1234).asReadOnlyBuffer()),
                "the short last block, in Java");
        // Right bytes at the wrong place are wrong too.
        assertThrows(ManifestException.class, () -> verifier.verify(4096, ByteBuffer.wrap(bytes, 0, 4096)));
        assertThrows(ManifestException.class, () -> verifier.verify(bytes.length - 1234, ByteBuffer.wrap(bytes, 0, 1234)));
    }

    @Test
    void aHeadSignedByAnotherKeyDamagedOrTruncatedIsRefused() throws Exception {
        ManifestException other = assertThrows(ManifestException.class,
                () -> ImageManifest.verify("win11@1.qcow2", ByteBuffer.wrap(manifest), publisher.getPublic()));
        assertTrue(other.getMessage().contains("win11@1.qcow2") && other.getMessage().contains("signature"), other.getMessage());
        for (int flip : new int[] {10, 40, ImageManifest.HEAD_LENGTH + 3, manifest.length - (int) (manifest.length - verified()
                .pageOffset(0)) - 1}) {
            byte[] damaged = manifest.clone();
            damaged[flip] ^= 1;
            assertThrows(ManifestException.class, () -> ImageManifest.verify("x", ByteBuffer.wrap(damaged),
                    PemKeys.publicKey(dir.resolve("pub.pem"))), "byte " + flip + " altered");
        }
        for (int length : new int[] {0, 8, ImageManifest.HEAD_LENGTH - 1, ImageManifest.HEAD_LENGTH + 40}) {
            ManifestException truncated = assertThrows(ManifestException.class, () -> ImageManifest.verify("win11@1.qcow2",
                    ByteBuffer.wrap(manifest, 0, length), PemKeys.publicKey(dir.resolve("pub.pem"))));
            assertTrue(truncated.getMessage().contains("win11@1.qcow2"), truncated.getMessage());
        }
        assertThrows(ManifestException.class, () -> ImageManifest.verify("x", ByteBuffer.wrap(bytes),
                PemKeys.publicKey(dir.resolve("pub.pem"))), "an image is not a manifest");
    }

    @Test
    void aPageThatIsNotTheSignedOneIsRefused() throws Exception {
        ImageManifest head = verified();
        byte[] page = Arrays.copyOfRange(manifest, (int) head.pageOffset(1), (int) head.pageOffset(1) + head.pageLength(1));
        page[7] ^= 1;
        ManifestException e = assertThrows(ManifestException.class, () -> head.page(1, page));
        assertTrue(e.getMessage().contains("page 1"), e.getMessage());
        ImageVerifier lying = new ImageVerifier(head, (offset, length) -> new byte[length]);
        assertThrows(ManifestException.class, () -> lying.verify(0, ByteBuffer.wrap(bytes, 0, 4096)));
    }

    @Test
    void theHeadBindsTheImagesNameItsFilesNameAndThePublicationTime() throws Exception {
        ImageManifest head = verified();
        assertEquals("win11.qcow2", head.imageName(), "win11@1.qcow2 is a revision of win11.qcow2 by the publishing convention");
        assertEquals("win11@1.qcow2", head.fileName());
        assertTrue(head.names("win11.qcow2") && head.names("win11@1.qcow2"));
        assertFalse(head.names("kiosk.qcow2") || head.names("lab/win11.qcow2") || head.names("win11"));
        assertTrue(Math.abs(head.published().toEpochMilli() - System.currentTimeMillis()) < 600_000, head.published().toString());

        java.time.Instant when = java.time.Instant.parse("2026-11-24T06:00:00.123Z");
        Path nested = ManifestWriter.write(image, "lab/win11.qcow2", when, PemKeys.privateKey(dir.resolve("key.pem")), null);
        ImageManifest named = ImageManifest.verify("x", ByteBuffer.wrap(Files.readAllBytes(nested)),
                PemKeys.publicKey(dir.resolve("pub.pem")));
        assertEquals("lab/win11.qcow2", named.imageName());
        assertEquals("lab/win11@1.qcow2", named.fileName(), "the file's folder is the image name's");
        assertEquals(when, named.published());
        assertFalse(named.names("win11.qcow2"));

        // The names are signed: a byte changed in them breaks the signature.
        byte[] renamed = Files.readAllBytes(nested);
        int at = indexOf(renamed, "lab/win11.qcow2".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        renamed[at] = 'x';
        assertThrows(ManifestException.class, () -> ImageManifest.verify("x", ByteBuffer.wrap(renamed),
                PemKeys.publicKey(dir.resolve("pub.pem"))));
    }

    @Test
    void theDefaultImageNameStripsTheRevisionFromTheFileName() {
        assertEquals("win11.qcow2", ImageManifest.defaultImageName("win11@2026-11-24.qcow2"));
        assertEquals("initrd.img", ImageManifest.defaultImageName("initrd.img@2026-11-24"));
        assertEquals("debian.qcow2", ImageManifest.defaultImageName("debian@12.5.qcow2"));
        assertEquals("disk.raw", ImageManifest.defaultImageName("disk.raw"));
        assertEquals("lab/win11.qcow2", ImageManifest.defaultImageName("lab/win11@3.qcow2"));
    }

    @Test
    void badNamesAreRefusedBeforeAnythingIsRead() {
        for (String name : new String[] {"", "/abs.qcow2", "dir/", "a\nb", "x".repeat(ImageManifest.MAX_NAME_BYTES + 1)}) {
            assertThrows(IllegalArgumentException.class, () -> ManifestWriter.write(image, name, java.time.Instant.now(),
                    PemKeys.privateKey(dir.resolve("key.pem")), null), name);
        }
    }

    @Test
    void aManifestOfFormatOneIsRefusedWithAdvice() throws Exception {
        byte[] old = manifest.clone();
        System.arraycopy("BBMANIF1".getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0, old, 0, 8);
        ManifestException e = assertThrows(ManifestException.class, () -> ImageManifest.verify("win11.qcow2",
                ByteBuffer.wrap(old), PemKeys.publicKey(dir.resolve("pub.pem"))));
        assertTrue(e.getMessage().contains("format 1") && e.getMessage().contains("sign the image again"), e.getMessage());
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }

    @Test
    void keysThatAreNotEd25519PemAreRefusedNamingTheFile() throws Exception {
        Path garbage = Files.writeString(dir.resolve("garbage.pem"), "not a key\n");
        IOException e = assertThrows(IOException.class, () -> PemKeys.publicKey(garbage));
        assertTrue(e.getMessage().contains("garbage.pem"), e.getMessage());
        assertThrows(IOException.class, () -> PemKeys.publicKey(dir.resolve("key.pem")), "a private key is no public key");
        OpenSsl.run("genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048", "-out", dir.resolve("rsa.pem").toString());
        IOException rsa = assertThrows(IOException.class, () -> PemKeys.privateKey(dir.resolve("rsa.pem")));
        assertTrue(rsa.getMessage().contains("Ed25519"), rsa.getMessage());
    }
}
