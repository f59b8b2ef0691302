package dev.branchboot.integrity;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.time.Instant;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Substitution and rollback: a manifest signed for another image, or published before one already
 * accepted for the name, is refused; what was accepted survives in its file.
 */
class AcceptedRevisionsTest {
    @TempDir
    Path dir;
    private KeyPair publisher;

    @BeforeEach
    void keys() throws Exception {
        publisher = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    }

    private ImageManifest signed(String file, String name, String published, int seed) throws IOException {
        Path image = dir.resolve(file);
        byte[] bytes = new byte[10_000];
        new java.util.Random(seed).nextBytes(bytes);
        Files.write(image, bytes);
        Path manifest = ManifestWriter.write(image, name, Instant.parse(published), publisher.getPrivate(), null);
        return ImageManifest.verify(name, ByteBuffer.wrap(Files.readAllBytes(manifest)), publisher.getPublic());
    }

    @Test
    void anotherImagesManifestIsRefusedUnderThisName() throws Exception {
        ImageManifest kiosk = signed("kiosk@1.qcow2", "kiosk.qcow2", "2026-12-01T00:00:00Z", 1);
        AcceptedRevisions accepted = AcceptedRevisions.inMemory();
        ManifestException e = assertThrows(ManifestException.class, () -> accepted.check("win11.qcow2", kiosk));
        assertTrue(e.getMessage().contains("win11.qcow2") && e.getMessage().contains("signed for image 'kiosk.qcow2'"),
                e.getMessage());
        assertDoesNotThrow(() -> accepted.check("kiosk.qcow2", kiosk));
        assertDoesNotThrow(() -> accepted.check("kiosk@1.qcow2", kiosk), "the revision's own name");
    }

    @Test
    void anOlderRevisionIsRefusedOnceANewerWasAcceptedAndTheMemorySurvivesARestart() throws Exception {
        ImageManifest november = signed("win11@11.qcow2", "win11.qcow2", "2026-11-01T00:00:00Z", 1);
        ImageManifest december = signed("win11@12.qcow2", "win11.qcow2", "2026-12-01T00:00:00Z", 2);
        Path state = dir.resolve("state/accepted");
        AcceptedRevisions accepted = AcceptedRevisions.inFile(state);
        accepted.check("win11.qcow2", november);
        accepted.check("win11.qcow2", december);
        accepted.check("win11.qcow2", december);
        ManifestException rollback = assertThrows(ManifestException.class, () -> accepted.check("win11.qcow2", november));
        assertTrue(rollback.getMessage().contains("rollback") && rollback.getMessage().contains(december.revision()),
                rollback.getMessage());

        AcceptedRevisions restarted = AcceptedRevisions.inFile(state);
        assertEquals(december.published(), restarted.newestPublished("win11.qcow2"));
        assertThrows(ManifestException.class, () -> restarted.check("win11.qcow2", november));
        assertNull(restarted.newestPublished("kiosk.qcow2"));
        // Rolling back on purpose: the old image signed again gets a new time.
        ImageManifest resigned = signed("win11@11.qcow2", "win11.qcow2", "2026-12-08T00:00:00Z", 1);
        assertDoesNotThrow(() -> restarted.check("win11.qcow2", resigned));
        assertEquals(november.revision(), resigned.revision(), "the same bytes");
    }

    @Test
    void theMemoryIsPerNameAndADamagedFileIsRefused() throws Exception {
        ImageManifest old = signed("a@1.qcow2", "a.qcow2", "2026-01-01T00:00:00Z", 1);
        ImageManifest newer = signed("b@2 with space.qcow2", "b with space.qcow2", "2026-06-01T00:00:00Z", 2);
        Path state = dir.resolve("accepted");
        AcceptedRevisions accepted = AcceptedRevisions.inFile(state);
        accepted.check("b with space.qcow2", newer);
        assertDoesNotThrow(() -> accepted.check("a.qcow2", old), "another name's newer revision is no floor for this one");
        assertEquals(newer.published(), AcceptedRevisions.inFile(state).newestPublished("b with space.qcow2"));

        Files.writeString(state, "something else\n");
        IOException e = assertThrows(IOException.class, () -> AcceptedRevisions.inFile(state));
        assertTrue(e.getMessage().contains(state.toString()), e.getMessage());
        Files.writeString(state, "branchboot-accepted-revisions 1\n12 sha256:ab\n");
        assertThrows(IOException.class, () -> AcceptedRevisions.inFile(state));
    }
}
