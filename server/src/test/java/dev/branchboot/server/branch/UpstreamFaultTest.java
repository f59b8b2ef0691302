package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.cache.CacheDirectory;
import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.server.testing.FaultyUpstream;
import dev.branchboot.server.testing.FaultyUpstream.Fault;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * An upstream that lies or dies: a body cut midway, a wrong Content-Range, another ETag mid-fill,
 * a Range ignored, a 503. A passing fault is retried and the client gets the right bytes; a lasting
 * one gets the client an error, never wrong bytes, and nothing of it is cached; once the fault
 * clears the same request succeeds.
 */
class UpstreamFaultTest {
    private static final byte[] IMAGE = new byte[2 * 1024 * 1024 + 777];
    private static FaultyUpstream upstream;
    private static BranchServer branch;

    @BeforeAll
    static void start(@TempDir Path temp) throws Exception {
        new Random(5).nextBytes(IMAGE);
        upstream = new FaultyUpstream("disk.raw", IMAGE);
        branch = BranchServer.start(upstream.imagesUrl(), temp.resolve("cache"), "--branchboot.cache.fetch-attempts=3");
    }

    @AfterAll
    static void stop() {
        branch.close();
        upstream.close();
    }

    private static long errors(Fault fault) {
        String kind = switch (fault) {
            case TRUNCATED -> "wrong_length";
            case WRONG_RANGE -> "wrong_range";
            case OTHER_ETAG -> "revision_gone";
            case IGNORES_RANGE, UNAVAILABLE -> "status";
        };
        var counter = branch.bean(MeterRegistry.class).find("branchboot.upstream.errors").tag("kind", kind).counter();
        return counter == null ? 0 : (long) counter.count();
    }

    @ParameterizedTest
    @EnumSource(Fault.class)
    void aPassingFaultIsRetriedAndALastingOneNeverServesWrongBytes(Fault fault) {
        long first = fault.ordinal() * 262_144L + 1000; // a different cold region for each fault
        long last = first + 5000;
        String range = "bytes=" + first + "-" + last;
        byte[] expected = Arrays.copyOfRange(IMAGE, (int) first, (int) last + 1);
        long errorsBefore = errors(fault);

        upstream.failNext(fault, 1000);
        HttpResponse<byte[]> failed = branch.get("/images/disk.raw", "Range", range);
        assertEquals(502, failed.statusCode(), new String(failed.body()));
        assertTrue(errors(fault) > errorsBefore, "the fault is counted by kind");
        long cached = branch.bean(CacheDirectory.class).cachedBytes();

        upstream.failNext(fault, 1);
        HttpResponse<byte[]> retried = branch.get("/images/disk.raw", "Range", range);
        if (fault == Fault.OTHER_ETAG) {
            // Another ETag is another revision: not retried into this one, never mixed with it.
            assertEquals(502, retried.statusCode());
            assertEquals(cached, branch.bean(CacheDirectory.class).cachedBytes());
        } else {
            assertEquals(206, retried.statusCode());
            assertArrayEquals(expected, retried.body());
            // The response leaves before the bytes are stored; then exactly the 4 KiB blocks the range touches.
            branch.awaitCached(cached + 8192);
        }

        upstream.failNext(fault, 0);
        assertArrayEquals(expected, branch.get("/images/disk.raw", "Range", range).body());
    }
}
