package dev.branchboot.server.metrics;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.List;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.health.actuate.endpoint.HealthDescriptor;
import org.springframework.boot.health.actuate.endpoint.HealthEndpoint;
import org.springframework.boot.health.contributor.Status;
import org.springframework.stereotype.Component;

/**
 * The liveness and readiness probes as series, {@code branchboot_probe_up{probe="readiness"}} and
 * {@code probe="liveness"}: 1 while the health group is UP, else 0, evaluated at each scrape.
 *
 * <p>Why: Prometheus scrapes {@code /actuator/prometheus}, not the health groups, and {@code up}
 * only says the process answers. A branch whose cache directory turned read-only, or an origin
 * whose NFS share went away, still answers scrapes while its readiness probe has taken it out of
 * service; this gauge is what lets an alert say so. The groups' checks are a few file-system
 * look-ups, cheap enough for every scrape.
 */
@Component
public class ProbeMetrics {
    private static final List<String> PROBES = List.of("liveness", "readiness");

    private final ObjectProvider<HealthEndpoint> healthEndpoint;

    /** Registers one gauge per probe in {@code registry}; {@code healthEndpoint} is looked up at each scrape. */
    public ProbeMetrics(MeterRegistry registry, ObjectProvider<HealthEndpoint> healthEndpoint) {
        this.healthEndpoint = healthEndpoint;
        for (String probe : PROBES) {
            Gauge.builder("branchboot.probe.up", this, metrics -> metrics.isUp(probe))
                    .tag("probe", probe)
                    .description("1 while the health group of this probe is UP (what /actuator/health/{probe} answers), else 0")
                    .register(registry);
        }
    }

    /** 1 when the group {@code probe} is UP; 0 when it is anything else or cannot be evaluated. */
    private double isUp(String probe) {
        HealthEndpoint endpoint = healthEndpoint.getIfAvailable();
        if (endpoint == null) {
            return 0;
        }
        try {
            HealthDescriptor health = endpoint.healthForPath(probe);
            return health != null && Status.UP.equals(health.getStatus()) ? 1 : 0;
        } catch (RuntimeException failedCheck) {
            // A check that throws is a probe that fails: the same answer the probe's URL would give.
            return 0;
        }
    }
}
