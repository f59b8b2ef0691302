package dev.branchboot.integrity;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link TrustKey} with keys made by OpenSSL: the key it makes in the background is the publisher's
 * and checks a manifest, and every file that holds no Ed25519 public key is refused at once,
 * naming the file, before any key is made.
 */
class TrustKeyTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void keys() throws Exception {
        OpenSsl.run("genpkey", "-algorithm", "ed25519", "-out", dir.resolve("key.pem").toString());
        OpenSsl.run("pkey", "-in", dir.resolve("key.pem").toString(), "-pubout", "-out", dir.resolve("pub.pem").toString());
        OpenSsl.run("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", dir.resolve("ec.pem").toString());
        OpenSsl.run("pkey", "-in", dir.resolve("ec.pem").toString(), "-pubout", "-out", dir.resolve("ec-pub.pem").toString());
    }

    @Test
    void makesThePublishersKeyAndChecksItsManifests() throws Exception {
        TrustKey key = TrustKey.read(dir.resolve("pub.pem"));
        assertArrayEquals(PemKeys.publicKey(dir.resolve("pub.pem")).getEncoded(), key.publicKey().getEncoded());
        assertEquals("EdDSA", key.publicKey().getAlgorithm());

        byte[] bytes = new byte[300_000];
        new Random(7).nextBytes(bytes);
        Path image = Files.write(dir.resolve("checked.qcow2"), bytes);
        byte[] manifest = Files.readAllBytes(ManifestWriter.write(image, PemKeys.privateKey(dir.resolve("key.pem")), null));
        ImageManifest verified = ImageManifest.verify("checked.qcow2", ByteBuffer.wrap(manifest), key.publicKey());
        assertEquals(bytes.length, verified.imageSize());
    }

    @Test
    void refusesFilesWithoutAnEd25519PublicKeyNamingThem() throws Exception {
        for (String name : new String[] {"key.pem", "ec-pub.pem"}) {
            IOException e = assertThrows(IOException.class, () -> TrustKey.read(dir.resolve(name)), name);
            assertTrue(e.getMessage().contains(name), e.getMessage());
        }
        IOException ec = assertThrows(IOException.class, () -> TrustKey.read(dir.resolve("ec-pub.pem")));
        assertTrue(ec.getMessage().contains("not an Ed25519 public key"), ec.getMessage());
        Path garbage = Files.writeString(dir.resolve("garbage.pem"), "-----BEGIN PUBLIC KEY-----\n%%%\n-----END PUBLIC KEY-----\n");
        IOException notBase64 = assertThrows(IOException.class, () -> TrustKey.read(garbage));
        assertTrue(notBase64.getMessage().contains("garbage.pem"), notBase64.getMessage());
        Path binary = Files.write(dir.resolve("binary.pem"), new byte[] {(byte) 0xe2, (byte) 0x86, (byte) 0x92, '\n'});
        IOException notText = assertThrows(IOException.class, () -> TrustKey.read(binary));
        assertTrue(notText.getMessage().contains("binary.pem") && notText.getMessage().contains("not a PEM file"), notText.getMessage());
        assertThrows(NoSuchFileException.class, () -> TrustKey.read(dir.resolve("missing.pem")));
    }
}
