package dev.branchboot.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.RunningServer;
import java.net.http.HttpResponse;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The actuator endpoints an operator scrapes and probes, after real traffic. */
class MetricsAndHealthTest extends RunningServer {

    private static double sample(String exposition, String seriesPrefix) {
        Matcher matcher = Pattern.compile("(?m)^" + Pattern.quote(seriesPrefix) + "[^\\n]*\\} ([0-9.Ee+-]+)$").matcher(exposition);
        double total = 0;
        boolean found = false;
        while (matcher.find()) {
            total += Double.parseDouble(matcher.group(1));
            found = true;
        }
        assertTrue(found, () -> "no series " + seriesPrefix + " in:\n" + exposition);
        return total;
    }

    @Test
    void prometheusCountsRequestsBytesAndLatency() {
        String before = new String(get("/actuator/prometheus").body());
        double bytesBefore = before.contains("branchboot_response_bytes_total")
                ? sample(before, "branchboot_response_bytes_total{") : 0;
        assertEquals(206, get("/images/disk.raw", "Range", "bytes=0-4095").statusCode());
        assertEquals(404, get("/images/missing.raw").statusCode());

        HttpResponse<byte[]> scrape = get("/actuator/prometheus");
        assertEquals(200, scrape.statusCode());
        String text = new String(scrape.body());
        assertTrue(sample(text, "branchboot_requests_total{application=\"branchboot-server\",method=\"GET\",route=\"image\",status=\"206\"") >= 1, text);
        assertTrue(sample(text, "branchboot_requests_total{application=\"branchboot-server\",method=\"GET\",route=\"image\",status=\"404\"") >= 1, text);
        assertEquals(4096, sample(text, "branchboot_response_bytes_total{") - bytesBefore, 0.0);
        assertTrue(sample(text, "branchboot_response_latency_seconds_count{application=\"branchboot-server\",method=\"GET\",route=\"image\",status=\"206\"") >= 1);
        assertTrue(text.contains("branchboot_response_latency_seconds_bucket{"), "a histogram");
    }

    @Test
    void livenessAndReadinessAreUpWithTheImagesDirectory() {
        HttpResponse<byte[]> liveness = get("/actuator/health/liveness");
        assertEquals(200, liveness.statusCode());
        assertTrue(new String(liveness.body()).contains("\"status\":\"UP\""));
        HttpResponse<byte[]> readiness = get("/actuator/health/readiness");
        assertEquals(200, readiness.statusCode());
        String body = new String(readiness.body());
        assertTrue(body.contains("imagesDirectory"), body);
        assertTrue(body.contains("\"status\":\"UP\""), body);
        // Every check's status is public; what it looked at (paths, free bytes) is not.
        String health = new String(get("/actuator/health").body());
        assertTrue(health.contains("imagesDirectory") && health.contains("diskSpace"), health);
        assertTrue(!health.contains("details") && !health.contains("free") && !health.contains("/"), health);
    }
}
