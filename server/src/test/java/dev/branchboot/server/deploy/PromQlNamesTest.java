package dev.branchboot.server.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Set;
import org.junit.jupiter.api.Test;

/** {@link PromQlNames} finds the metric names of the shapes of expression the dashboards and alerts use. */
class PromQlNamesTest {
    @Test
    void findsNamesAndSkipsFunctionsLabelsKeywordsAndNumbers() {
        assertEquals(Set.of("branchboot_cache_served_bytes_total"), PromQlNames.of(
                "sum by (application, instance) (rate(branchboot_cache_served_bytes_total{result=\"hit\",instance=~\"a|b\"}[15m])) > 1e6"));
        assertEquals(Set.of("branchboot_upstream_bytes_total", "branchboot_upstream_errors_total"), PromQlNames.of(
                "sum by (upstream) (rate(branchboot_upstream_errors_total{kind=~\"connect|timeout\"}[5m])) > 0\n"
                        + "unless on (application, upstream) sum(rate(branchboot_upstream_bytes_total[5m] offset 1d)) > 0"));
        assertEquals(Set.of("up"), PromQlNames.of("up{job=~\"branchboot-(origin|branch)\"} == 0"));
        assertEquals(Set.of("a_bucket", "b"), PromQlNames.of("histogram_quantile(0.99, sum by (le) (rate(a_bucket[1m]))) / ignoring(x) b"));
        assertEquals(Set.of(), PromQlNames.of("vector(1) and on() hour() == 7"));
    }
}
