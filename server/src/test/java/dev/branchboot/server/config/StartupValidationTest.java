package dev.branchboot.server.config;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.BranchbootServerApplication;
import dev.branchboot.server.testing.OwnEventLoops;
import dev.branchboot.testkit.PublisherKeys;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
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

    /** Starts a branch of a {@code file:} upstream with {@code extra} settings, expecting a report without a trace. */
    private void assertBranchFailsWith(CapturedOutput output, List<String> extra, String... expected) {
        Map<String, String> args = new LinkedHashMap<>();
        // A repeated property would bind as a list: the test's own value replaces the default.
        for (String arg : Stream.concat(Stream.of("--branchboot.upstreams=file:" + temp, "--branchboot.cache.dir=" + temp.resolve("cache"),
                "--server.port=0", "--server.address=127.0.0.1"), extra.stream()).toList()) {
            args.put(arg.substring(0, arg.indexOf('=')), arg);
        }
        int from = output.getAll().length();
        assertFailsWith(output, args.values().toArray(String[]::new), expected);
        String run = output.getAll().substring(from);
        assertFalse(run.contains("Error creating bean") || run.contains("\tat "), "a stack trace instead of a report:\n" + run);
    }

    @Test
    void aTrustKeyThatIsNotThePublishersPublicKeyIsNamed(CapturedOutput output) throws Exception {
        PublisherKeys keys = PublisherKeys.make(temp, "publisher");
        Path binary = temp.resolve("binary.pem");
        Files.write(binary, new byte[] {(byte) 0x89, 'P', 'N', 'G', 0, (byte) 0xff, 1, 2});
        Path text = Files.writeString(temp.resolve("notes.txt"), "not a key\n");
        Path missing = temp.resolve("missing.pem");
        assertBranchFailsWith(output, List.of("--branchboot.trust-key=" + missing), "branchboot.trust-key",
                "'" + missing + "' does not exist");
        assertBranchFailsWith(output, List.of("--branchboot.trust-key=" + temp), "branchboot.trust-key", "'" + temp + "' is not a file");
        assertBranchFailsWith(output, List.of("--branchboot.trust-key=" + keys.privateKey()), "branchboot.trust-key",
                "holds a private key: a branch needs only the publisher's public key");
        assertBranchFailsWith(output, List.of("--branchboot.trust-key=" + binary), "branchboot.trust-key",
                binary + " is not a PEM file", "give the publisher's public key");
        assertBranchFailsWith(output, List.of("--branchboot.trust-key=" + text), "branchboot.trust-key",
                text + " holds no PEM block '-----BEGIN PUBLIC KEY-----'");
        assertBranchFailsWith(output, List.of("--branchboot.trust-key=" + keys.publicKey(), "--branchboot.cache.block-size=1KB"),
                "branchboot.cache.block-size", "must be at least 4KB with branchboot.trust-key");
    }

    @Test
    void aCacheDirThatCannotBeADirectoryIsNamed(CapturedOutput output) throws Exception {
        Path file = Files.writeString(temp.resolve("a-file"), "x");
        assertBranchFailsWith(output, List.of("--branchboot.cache.dir=" + file), "branchboot.cache.dir",
                "'" + file + "' is not a directory");
        assertBranchFailsWith(output, List.of("--branchboot.cache.dir=" + file.resolve("cache")), "branchboot.cache.dir",
                "'" + file.resolve("cache") + "' cannot be created: '" + file + "' is not a directory");
    }

    @Test
    void negativeDurationsAndRatesAreNamed(CapturedOutput output) {
        for (String setting : List.of("cache.revalidate-interval=-1s", "cache.retry-backoff=-1ms", "cache.scrub-interval=-1h",
                "cache.quota=-1B", "cache.scrub-rate=-1MB", "replication.rate=-1KB")) {
            String name = setting.substring(0, setting.indexOf('='));
            assertBranchFailsWith(output, List.of("--branchboot." + setting), "branchboot." + name, "must not be negative");
        }
        assertBranchFailsWith(output, List.of("--branchboot.cache.upstream-timeout=0s"), "branchboot.cache.upstream-timeout",
                "must be more than 0");
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
