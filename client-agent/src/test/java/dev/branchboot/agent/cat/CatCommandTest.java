package dev.branchboot.agent.cat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.AgentMain;
import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** {@code cat} of every conformance image equals {@code qemu-img convert -O raw} of it. */
class CatCommandTest {

    @TempDir
    Path tmp;

    static List<TestImage> images() throws IOException {
        return ConformanceImages.regular();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void catToFileEqualsQemuImgConvert(TestImage image) throws IOException {
        Path out = tmp.resolve(image.name() + ".raw");
        assertEquals(0, AgentMain.run("cat", image.image().toString(), "--output", out.toString(), "--chunk-size", "1M"));
        assertEquals(-1, ByteComparison.firstDifference(image.reference(), out), image + ": first difference");
        try (var leftovers = Files.list(tmp)) {
            assertEquals(List.of(out), leftovers.toList(), "no temporary file is left behind");
        }
    }

    @Test
    void hugeSparseImageIsWrittenSparseAndEqualsQemuImgConvert() throws IOException {
        TestImage image = ConformanceImages.named("sparse-64g");
        Path out = tmp.resolve("sparse.raw");
        assertEquals(0, AgentMain.run("cat", image.image().toString(), "-o", out.toString()));
        assertEquals(64L << 30, Files.size(out));
        long allocated = Long.parseLong(ConformanceImages.run(tmp, "stat", "-c", "%b", out.toString()).trim()) * 512;
        assertTrue(allocated < 64L << 20, "holes must not be written, but " + allocated + " bytes are allocated");
        assertTrue(ByteComparison.qemuImgCompareRaw(image.reference(), out), "qemu-img compare says the contents differ");
    }

    @Test
    void overwritingAnExistingFileReplacesItWhole() throws IOException {
        TestImage image = ConformanceImages.named("zero-clusters");
        Path out = tmp.resolve("existing.raw");
        Files.write(out, new byte[(int) image.virtualSize() + 12345]);
        Files.write(out, "garbage that must not survive in a hole".repeat(100000).getBytes(), java.nio.file.StandardOpenOption.WRITE);
        assertEquals(0, AgentMain.run("cat", image.image().toString(), "-o", out.toString()));
        assertEquals(-1, ByteComparison.firstDifference(image.reference(), out));
    }
}
