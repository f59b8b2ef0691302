package dev.branchboot.server.config;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.BranchbootServerApplication;
import dev.branchboot.server.testing.OwnEventLoops;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

/**
 * A bad setting stops start-up with Spring Boot's failure report naming the property, the value
 * and what is wrong, before any request is served.
 */
@ExtendWith(OutputCaptureExtension.class)
class StartupValidationTest {

    @TempDir
    Path temp;

    private static void start(String... args) {
        new SpringApplicationBuilder(BranchbootServerApplication.class, OwnEventLoops.class).run(args);
    }

    private void assertFailsWith(CapturedOutput output, String[] args, String... expected) {
        assertThrows(Exception.class, () -> start(args));
        String report = output.getAll();
        assertTrue(report.contains("APPLICATION FAILED TO START"), report);
        for (String text : expected) {
            assertTrue(report.contains(text), () -> "report lacks '" + text + "':\n" + report);
        }
    }

    @Test
    void missingImagesDirectory(CapturedOutput output) {
        Path missing = temp.resolve("no-such-dir");
        assertFailsWith(output, new String[] {"--branchboot.images-dir=" + missing, "--server.port=0", "--server.address=127.0.0.1"},
                "branchboot.images-dir", missing + "' does not exist");
    }

    @Test
    void badSizes(CapturedOutput output) {
        assertFailsWith(output, new String[] {"--branchboot.images-dir=" + temp, "--branchboot.multipart-buffer-size=1KB",
                "--server.port=0", "--server.address=127.0.0.1"}, "branchboot.multipart-buffer-size", "must be between");
        assertFailsWith(output, new String[] {"--branchboot.images-dir=" + temp, "--branchboot.multipart-buffer-size=lots",
                "--server.port=0", "--server.address=127.0.0.1"}, "branchboot.multipart-buffer-size", "lots");
        assertFailsWith(output, new String[] {"--branchboot.images-dir=" + temp, "--branchboot.max-ranges=0",
                "--server.port=0", "--server.address=127.0.0.1"}, "branchboot.max-ranges");
    }

    @Test
    void imagesDirAndUpstreamsTogether(CapturedOutput output) {
        assertFailsWith(output, new String[] {"--branchboot.images-dir=" + temp, "--branchboot.upstreams=http://127.0.0.1:9/images",
                "--branchboot.cache.dir=" + temp.resolve("cache"), "--server.port=0", "--server.address=127.0.0.1"},
                "branchboot.images-dir and branchboot.upstreams cannot both be set");
    }

    @Test
    void badBranchSettings(CapturedOutput output) {
        assertFailsWith(output, new String[] {"--branchboot.upstreams=ftp://origin/images",
                "--branchboot.cache.dir=" + temp.resolve("cache"), "--server.port=0", "--server.address=127.0.0.1"},
                "branchboot.upstreams must be absolute http://, https:// or file: URLs");
        assertFailsWith(output, new String[] {"--branchboot.upstreams=http://127.0.0.1:9/images",
                "--branchboot.cache.fetch-size=1KB", "--branchboot.cache.dir=" + temp.resolve("cache"),
                "--server.port=0", "--server.address=127.0.0.1"}, "branchboot.cache.fetchSize", "must be between");
        assertFailsWith(output, new String[] {"--branchboot.upstreams=http://127.0.0.1:9/images",
                "--branchboot.cache.block-size=3KB", "--branchboot.cache.dir=" + temp.resolve("cache"),
                "--server.port=0", "--server.address=127.0.0.1"}, "branchboot.cache.block-size must be a power of two");
        assertFailsWith(output, new String[] {"--branchboot.upstreams=http://127.0.0.1:9/images",
                "--branchboot.cache.block-size=64KB", "--branchboot.cache.fetch-size=96KB",
                "--branchboot.cache.dir=" + temp.resolve("cache"), "--server.port=0", "--server.address=127.0.0.1"},
                "divides branchboot.cache.fetch-size");
    }

    @Test
    void upstreamsWithCredentialsAQueryOrNoHostAreRefusedWithoutShowingTheSecret(CapturedOutput output) {
        String[][] cases = {
                {"http://alice:s3cret-pw@127.0.0.1:9/images", "http://127.0.0.1:9/images (shown without them) carries a user name or password"},
                {"http://127.0.0.1:9/images?token=s3cret-token", "http://127.0.0.1:9/images (shown without them) carries"},
                {"http://alice:s3cret@pw@127.0.0.1:9/images", "http://127.0.0.1:9/images (shown without them) carries"},
                {"http:///images", "http:///images names no host"}};
        for (String[] c : cases) {
            assertFailsWith(output, new String[] {"--branchboot.upstreams=file:" + temp + "," + c[0],
                    "--branchboot.cache.dir=" + temp.resolve("cache"), "--server.port=0", "--server.address=127.0.0.1"},
                    "branchboot.upstreams: the upstream " + c[1]);
        }
        assertFalse(output.getAll().contains("s3cret"), "the report shows a secret:\n" + output.getAll());
    }

    @Test
    void anUnknownSettingStopsStartUpNamingTheClosestKnownOne(CapturedOutput output) {
        assertFailsWith(output, new String[] {"--branchboot.upstreams=http://127.0.0.1:9/images",
                "--branchboot.cache-dir=" + temp.resolve("cache"), "--server.port=0", "--server.address=127.0.0.1"},
                "Unknown setting", "branchboot.cache-dir (from \"branchboot.cache-dir\" from property source \"commandLineArgs\")",
                "did you mean branchboot.cache.dir?");
        assertFailsWith(output, new String[] {"--branchboot.images-dir=" + temp, "--branchboot.mode=origin",
                "--branchboot.cache.chunk-size=1MB", "--server.port=0", "--server.address=127.0.0.1"},
                "branchboot.mode", "branchboot.cache.chunk-size", "did you mean branchboot.cache.block-size?");
    }

    @Test
    void theClosestKnownSettingIsFoundByEditDistance() {
        java.util.List<String> known = java.util.List.of("branchboot.cache.dir", "branchboot.cache.quota", "branchboot.images-dir");
        org.junit.jupiter.api.Assertions.assertEquals("branchboot.cache.dir", KnownSettings.closest("branchboot.cachedir", known));
        org.junit.jupiter.api.Assertions.assertEquals("branchboot.images-dir", KnownSettings.closest("branchboot.image-dir", known));
        org.junit.jupiter.api.Assertions.assertNull(KnownSettings.closest("branchboot.something-else-entirely", known));
    }

    @Test
    void portInUse(CapturedOutput output) throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertFailsWith(output, new String[] {"--branchboot.images-dir=" + temp,
                    "--server.port=" + taken.getLocalPort(), "--server.address=127.0.0.1"},
                    "Port " + taken.getLocalPort() + " was already in use");
        }
    }
}
