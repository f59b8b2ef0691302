package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.server.testing.FaultyUpstream;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Four revisions of one length written in one second share nginx's ETag ({@code "mtime-size"}):
 * the branch must still keep them apart by the revision's own name (Content-Location), both when
 * the name is repointed and while it still believes the name means the old revision.
 */
class EqualEtagRevisionsTest {
    private static final int SIZE = 2 * 1024 * 1024;
    private static final int RANGES_PER_REVISION = 400;

    @TempDir
    Path temp;
    private FaultyUpstream upstream;
    private BranchServer branch;

    @AfterEach
    void stop() {
        if (branch != null) {
            branch.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    private static byte[] revision(int seed) {
        byte[] bytes = new byte[SIZE];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    @Test
    void aRepointedNameNeverServesAnotherRevisionsBytes() throws Exception {
        byte[][] files = {revision(0), revision(1), revision(2), revision(3)};
        upstream = new FaultyUpstream("disk.raw", files[0]);
        upstream.publish("disk@0.raw", files[0]);
        branch = BranchServer.start(upstream.imagesUrl(), temp.resolve("cache"), "--branchboot.cache.revalidate-interval=0s");
        Random random = new Random(42);
        int wrong = 0;
        for (int round = 0; round < 2; round++) {
            for (int r = 0; r < files.length; r++) {
                upstream.publish("disk@" + r + ".raw", files[r]);
                for (int i = 0; i < RANGES_PER_REVISION / 2; i++) {
                    int first = random.nextInt(SIZE - 70_000);
                    int last = first + random.nextInt(65_536);
                    HttpResponse<byte[]> response = branch.get("/images/disk.raw", "Range", "bytes=" + first + "-" + last);
                    assertEquals(206, response.statusCode());
                    assertEquals("/images/disk@" + r + ".raw", response.headers().firstValue("Content-Location").orElseThrow());
                    if (!Arrays.equals(Arrays.copyOfRange(files[r], first, last + 1), response.body())) {
                        wrong++;
                    }
                }
            }
        }
        assertEquals(0, wrong, "ranges with another revision's bytes");
    }

    @Test
    void whileTheBranchStillBelievesTheOldRevisionItFetchesItByItsOwnName() throws Exception {
        byte[] old = revision(10);
        byte[] newer = revision(11);
        upstream = new FaultyUpstream("disk.raw", old);
        upstream.publish("disk@1.raw", old);
        // The name's revision is trusted for an hour: every request below resolves to disk@1.
        branch = BranchServer.start(upstream.imagesUrl(), temp.resolve("cache"), "--branchboot.cache.revalidate-interval=1h");
        assertArrayEquals(Arrays.copyOfRange(old, 0, 1000), branch.get("/images/disk.raw", "Range", "bytes=0-999").body());
        upstream.publish("disk@2.raw", newer);
        // Cold bytes of the old revision: asked by name with If-Match (the same ETag passes), the upstream answers with
        // the new file's Content-Location; the branch must refuse those bytes and fetch the old file by its own name.
        HttpResponse<byte[]> cold = branch.get("/images/disk.raw", "Range", "bytes=1000000-1099999");
        assertEquals(206, cold.statusCode());
        assertEquals("/images/disk@1.raw", cold.headers().firstValue("Content-Location").orElseThrow());
        assertArrayEquals(Arrays.copyOfRange(old, 1_000_000, 1_100_000), cold.body());
    }
}
