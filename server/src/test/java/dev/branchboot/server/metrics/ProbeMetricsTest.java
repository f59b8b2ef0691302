package dev.branchboot.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.BranchServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code branchboot_probe_up} says what the probes' URLs say: both 1 on a healthy branch; readiness 0
 * (and liveness still 1) once the cache directory is gone, exactly when
 * {@code /actuator/health/readiness} answers 503.
 */
class ProbeMetricsTest {
    @TempDir
    Path dir;

    @Test
    void readinessSeriesFollowsTheReadinessProbe() throws IOException {
        Path cache = dir.resolve("cache");
        try (BranchServer branch = BranchServer.start("http://127.0.0.1:9/images", cache)) {
            assertEquals(200, branch.get("/actuator/health/readiness").statusCode());
            assertEquals(1.0, probe(branch, "readiness"));
            assertEquals(1.0, probe(branch, "liveness"));

            try (Stream<Path> walk = Files.walk(cache)) {
                for (Path path : walk.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(path);
                }
            }
            assertEquals(503, branch.get("/actuator/health/readiness").statusCode());
            assertEquals(0.0, probe(branch, "readiness"));
            assertEquals(1.0, probe(branch, "liveness"));
        }
    }

    private static double probe(BranchServer branch, String probe) {
        String exposition = new String(branch.get("/actuator/prometheus").body(), StandardCharsets.UTF_8);
        Matcher sample = Pattern.compile("(?m)^branchboot_probe_up\\{[^}]*probe=\"" + probe + "\"[^}]*} (\\S+)$").matcher(exposition);
        assertTrue(sample.find(), "branchboot_probe_up for " + probe + " in:\n" + exposition);
        return Double.parseDouble(sample.group(1));
    }
}
