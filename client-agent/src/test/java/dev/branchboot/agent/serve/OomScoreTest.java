package dev.branchboot.agent.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OomScoreTest {
    @TempDir
    Path dir;

    @Test
    void writesTheAdjustmentAndChecksWhatTheFileHoldsAfterwards() throws Exception {
        Path file = dir.resolve("oom_score_adj");
        Files.writeString(file, "0\n");
        assertTrue(OomScore.set(file, -1000));
        assertEquals("-1000", Files.readString(file).trim());
    }

    @Test
    void aMissingFileIsAWarningNotAFailure() {
        assertFalse(OomScore.set(dir.resolve("absent").resolve("oom_score_adj"), -1000));
    }

    @Test
    void valuesOutsideTheKernelsRangeAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> OomScore.set(dir.resolve("f"), 1001));
        assertThrows(IllegalArgumentException.class, () -> OomScore.set(dir.resolve("f"), -1001));
    }
}
