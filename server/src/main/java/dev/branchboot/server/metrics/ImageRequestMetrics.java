package dev.branchboot.server.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.springframework.core.Ordered;
import org.springframework.http.HttpStatusCode;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;
import reactor.core.publisher.SignalType;

/**
 * The {@code branchboot_*} series of the image API, in base units: requests
 * ({@code branchboot_requests_total}), body bytes sent ({@code branchboot_response_bytes_total})
 * and the time until the last byte was handed to the network
 * ({@code branchboot_response_latency_seconds}, a histogram). Tagged by route ({@code image},
 * {@code catalog} or {@code boot}: the iPXE scripts and their listing), method and status; never by
 * image name, so the series stay few.
 */
@Component
public class ImageRequestMetrics implements WebFilter, Ordered {
    private static final String BODY_BYTES = ImageRequestMetrics.class.getName() + ".bodyBytes";

    private final MeterRegistry registry;
    /** Meters by tag values: registry look-ups cost more than the recording itself on the hot path. */
    private final Map<String, RequestMeters> requestMeters = new ConcurrentHashMap<>();
    private final Map<String, Counter> bytesCounters = new ConcurrentHashMap<>();

    private record RequestMeters(Counter requests, Timer latency) {
    }

    /** Registers the meters in {@code registry} as requests arrive. */
    public ImageRequestMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    /** Called by a handler before it writes a body of {@code bytes}; counted once the body is sent. */
    public static void recordBodyBytes(ServerWebExchange exchange, long bytes) {
        exchange.getAttributes().put(BODY_BYTES, bytes);
    }

    @Override
    public int getOrder() {
        return Ordered.HIGHEST_PRECEDENCE;
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        String path = exchange.getRequest().getPath().pathWithinApplication().value();
        String route;
        if (path.startsWith("/images/")) {
            route = "image";
        } else if (path.equals("/images")) {
            route = "catalog";
        } else if (path.equals("/boot") || path.equals("/boot.ipxe") || path.startsWith("/boot/")) {
            route = "boot";
        } else {
            return chain.filter(exchange);
        }
        long start = System.nanoTime();
        return chain.filter(exchange).doFinally(signal -> record(exchange, route, signal, System.nanoTime() - start));
    }

    private void record(ServerWebExchange exchange, String route, SignalType signal, long nanos) {
        String method = exchange.getRequest().getMethod().name();
        String status;
        if (signal == SignalType.CANCEL) {
            status = "cancelled";
        } else if (signal == SignalType.ON_ERROR) {
            status = "error";
        } else {
            HttpStatusCode code = exchange.getResponse().getStatusCode();
            status = code == null ? "200" : Integer.toString(code.value());
        }
        Long bytes = exchange.getAttribute(BODY_BYTES);
        record(route, method, status, nanos, signal == SignalType.ON_COMPLETE ? bytes : null);
    }

    /**
     * Records one request answered outside WebFlux (the branch's event-loop path): its route,
     * method, status, time until its response was handed to the network, and body bytes (or
     * {@code null} when it had none).
     */
    public void record(String route, String method, int status, long nanos, Long bodyBytes) {
        record(route, method, statusText(status), nanos, bodyBytes);
    }

    /** The status tag: the few codes the image routes send, without a new string each time. */
    private static String statusText(int status) {
        return switch (status) {
            case 200 -> "200";
            case 206 -> "206";
            default -> Integer.toString(status);
        };
    }

    private void record(String route, String method, String status, long nanos, Long bytes) {
        RequestMeters meters = requestMeters.computeIfAbsent(route + ' ' + method + ' ' + status,
                key -> new RequestMeters(
                        Counter.builder("branchboot.requests")
                                .description("Requests to the image API")
                                .tags("route", route, "method", method, "status", status)
                                .register(registry),
                        Timer.builder("branchboot.response.latency")
                                .description("Time from a request's arrival until its response was written")
                                .tags("route", route, "method", method, "status", status)
                                .publishPercentileHistogram()
                                .register(registry)));
        meters.requests().increment();
        meters.latency().record(nanos, TimeUnit.NANOSECONDS);
        if (bytes != null) {
            bytesCounters.computeIfAbsent(route, key -> Counter.builder("branchboot.response")
                    .description("Body bytes of image responses sent")
                    .baseUnit("bytes")
                    .tags("route", key)
                    .register(registry)).increment(bytes);
        }
    }
}
