package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.integrity.ManifestWriter;
import dev.branchboot.integrity.PemKeys;
import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.testkit.Nginx;
import dev.branchboot.testkit.PublisherKeys;
import dev.branchboot.testkit.TamperingProxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

/**
 * What a client can make a branch log: floods of refused admin requests, of reads a branch with a
 * trust key cannot serve (the image has no manifest, or its upstream, a proxy, flips bits in every
 * body), and of reads of an image no upstream can serve now (the origin is down) each leave a few
 * WARN lines, not one or more per request (the
 * attack run of issue #30 saw 900 lines in 1.6 s, and 276 for 40 requests). Every lasting fault a
 * request runs into is logged through {@code RateLimitedLog}: one line per 10 s per cause, with the
 * count of the rest in the next. The floods are sent against a real nginx origin.
 */
@ExtendWith(OutputCaptureExtension.class)
class LogFloodTest {
    private static final String TOKEN = "test-admin-token-0123456789";
    /** Lines a flood may leave: one per cause it runs into, with room for a second after a 10 s boundary. */
    private static final int FEW = 6;

    @TempDir
    Path temp;
    private Path origin;
    private Nginx nginx;

    @BeforeEach
    void origin() throws Exception {
        origin = Files.createDirectories(temp.resolve("origin"));
        byte[] disk = new byte[2 * 1024 * 1024]; // eight windows of the tests' 256 KiB fetches
        new Random(30).nextBytes(disk);
        Files.write(origin.resolve("disk.raw"), disk);
        nginx = Nginx.start(temp.resolve("nginx"), origin);
    }

    @AfterEach
    void stop() throws Exception {
        nginx.close();
    }

    /** The WARN lines logged since {@code from} (a length of the captured output). */
    private static List<String> warningsSince(CapturedOutput output, int from) {
        return output.getAll().substring(from).lines().filter(line -> line.contains(" WARN ")).toList();
    }

    @Test
    void refusedAdminRequestsLogAFewLines(CapturedOutput output) {
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"), "--branchboot.admin-token=" + TOKEN)) {
            int from = output.getAll().length();
            for (int i = 0; i < 200; i++) {
                assertEquals(401, branch.send("POST", "/admin/images/disk.raw/replicate", "Authorization", "Bearer guess-" + i)
                        .statusCode());
            }
            List<String> warnings = warningsSince(output, from);
            assertTrue(!warnings.isEmpty() && warnings.size() <= FEW, warnings.size() + " WARN lines:\n" + String.join("\n", warnings));
            assertTrue(warnings.get(0).contains("Refused admin request"), warnings.get(0));
        }
    }

    @Test
    void readsThroughABranchWithATrustKeyOfAnUnsignedImageOrLiedBytesLogAFewLines(CapturedOutput output) throws Exception {
        PublisherKeys keys = PublisherKeys.make(temp, "publisher");
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"),
                "--branchboot.trust-key=" + keys.publicKey(), "--branchboot.cache.fetch-attempts=2")) {
            int from = output.getAll().length();
            for (int i = 0; i < 40; i++) {
                assertEquals(502, branch.get("/images/disk.raw", "Range", "bytes=0-99").statusCode(), "no manifest");
            }
            List<String> warnings = warningsSince(output, from);
            assertTrue(!warnings.isEmpty() && warnings.size() <= FEW, warnings.size() + " WARN lines:\n" + String.join("\n", warnings));
        }
        ManifestWriter.write(origin.resolve("disk.raw"), PemKeys.privateKey(keys.privateKey()), null);
        try (TamperingProxy liar = new TamperingProxy(nginx.rootUrl(), TamperingProxy.Mode.FLIP);
                BranchServer branch = BranchServer.start(liar.imagesUrl(), temp.resolve("cache-liar"),
                        "--branchboot.trust-key=" + keys.publicKey(), "--branchboot.cache.fetch-attempts=2")) {
            int from = output.getAll().length();
            for (int i = 0; i < 40; i++) {
                assertNotEquals(206, branch.get("/images/disk.raw", "Range", "bytes=" + i * 4096 + "-" + (i * 4096 + 99))
                        .statusCode(), "bytes that fail the manifest");
            }
            assertTrue(liar.tamperedBodies() >= 40, "the proxy lied " + liar.tamperedBodies() + " times");
            List<String> warnings = warningsSince(output, from);
            assertTrue(!warnings.isEmpty() && warnings.size() <= FEW, warnings.size() + " WARN lines:\n" + String.join("\n", warnings));
            // Long reads of several windows each: the windows still in flight when the first fails must not each log an ERROR.
            from = output.getAll().length();
            for (int i = 0; i < 10; i++) {
                branch.get("/images/disk.raw", "Range", "bytes=0-");
            }
            List<String> errors = output.getAll().substring(from).lines().filter(line -> line.contains(" ERROR ")).toList();
            assertTrue(errors.size() <= FEW, errors.size() + " ERROR lines:\n" + String.join("\n", errors));
        }
    }

    @Test
    void readsWhileTheOriginIsDownLogAFewLines(CapturedOutput output) throws Exception {
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"), "--branchboot.cache.fetch-attempts=2")) {
            nginx.stop();
            int from = output.getAll().length();
            for (int i = 0; i < 40; i++) {
                assertEquals(502, branch.get("/images/disk.raw", "Range", "bytes=0-99").statusCode());
            }
            List<String> warnings = warningsSince(output, from);
            assertTrue(!warnings.isEmpty() && warnings.size() <= FEW, warnings.size() + " WARN lines:\n" + String.join("\n", warnings));
        }
    }
}
