package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.branchboot.server.testing.BranchServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A branch whose upstream is a folder ({@code file:}, such as an NFS mount of the origin's folder)
 * serves what the origin serves and hides what the origin hides, by the origin's own rules: an
 * upload in progress ({@code .part}), a dot-file, a file in a dot-folder such as {@code .git}, and
 * a symlink to any of them or out of the folder are all 404, whatever way they are named.
 */
class FileUpstreamTest {

    @Test
    void theOriginsNameRulesHoldForAFileUpstream(@TempDir Path temp) throws Exception {
        Path folder = Files.createDirectories(temp.resolve("images"));
        byte[] disk = new byte[300_000];
        new Random(4).nextBytes(disk);
        Files.write(folder.resolve("disk.raw"), disk);
        Files.write(folder.resolve("upload.raw.part"), disk);
        Files.write(folder.resolve(".hidden.raw"), disk);
        Files.createDirectories(folder.resolve(".git"));
        Files.write(folder.resolve(".git/config"), disk);
        Files.write(temp.resolve("outside.raw"), disk);
        Files.createSymbolicLink(folder.resolve("to-part.raw"), Path.of("upload.raw.part"));
        Files.createSymbolicLink(folder.resolve("to-hidden.raw"), Path.of(".hidden.raw"));
        Files.createSymbolicLink(folder.resolve("to-git.raw"), Path.of(".git/config"));
        Files.createSymbolicLink(folder.resolve("to-outside.raw"), temp.resolve("outside.raw"));
        Files.createSymbolicLink(folder.resolve("current.raw"), Path.of("disk.raw"));
        try (BranchServer branch = BranchServer.start(folder.toUri().toString(), temp.resolve("cache"))) {
            assertArrayEquals(disk, branch.get("/images/disk.raw").body());
            assertArrayEquals(disk, branch.get("/images/current.raw").body(), "a symlink inside the folder is followed");
            for (String hidden : new String[] {"to-part.raw", "to-hidden.raw", "to-git.raw", "to-outside.raw",
                    "upload.raw.part", ".hidden.raw", ".git/config", "missing.raw"}) {
                assertEquals(404, branch.get("/images/" + hidden).statusCode(), hidden);
                assertEquals(404, branch.send("HEAD", "/images/" + hidden).statusCode(), hidden);
            }
        }
    }
}
