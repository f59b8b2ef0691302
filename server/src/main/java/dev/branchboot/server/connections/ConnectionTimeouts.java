package dev.branchboot.server.connections;

import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.util.RateLimitedLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.reactor.netty.NettyServerCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import reactor.netty.NettyPipeline;

/**
 * Bounds how long a client may take to send a request's headers
 * ({@code branchboot.request-headers-timeout}, {@link RequestHeadersDeadline}); the idle keep-alive
 * connection is Reactor Netty's own {@code server.netty.idle-timeout}, set in
 * {@code application.properties}. Each connection closed for slow headers is counted
 * ({@code branchboot_http_request_headers_timeouts_total}) and logged at most once per 10 s, since a
 * slow-loris attack would otherwise flood the log.
 */
@Configuration(proxyBeanMethods = false)
public class ConnectionTimeouts {
    private static final Logger LOG = LoggerFactory.getLogger(ConnectionTimeouts.class);

    /** Adds the request-headers deadline around the HTTP codec of every connection. */
    @Bean
    NettyServerCustomizer requestHeadersDeadline(BranchbootProperties properties, MeterRegistry registry) {
        java.time.Duration timeout = properties.requestHeadersTimeout();
        Counter closed = Counter.builder("branchboot.http.request.headers.timeouts")
                .description("Connections closed because the client did not send a request's headers within "
                        + "branchboot.request-headers-timeout")
                .register(registry);
        RateLimitedLog warnings = RateLimitedLog.every10Seconds(LOG);
        RequestHeadersDeadline.Listener listener = remote -> {
            closed.increment();
            warnings.warn("Closed a connection from {}: its request's headers did not arrive within {} "
                    + "(branchboot.request-headers-timeout)", remote, timeout);
        };
        return server -> server.doOnChannelInit((observer, channel, remoteAddress) -> {
            if (channel.pipeline().get(NettyPipeline.HttpCodec) == null) {
                return; // not HTTP/1.1 (h2c is not enabled); nothing to watch
            }
            RequestHeadersDeadline deadline = new RequestHeadersDeadline(timeout, listener);
            channel.pipeline().addBefore(NettyPipeline.HttpCodec, "branchboot.headersDeadline.in", deadline.bytesIn());
            channel.pipeline().addAfter(NettyPipeline.HttpCodec, "branchboot.headersDeadline.out", deadline.requestsOut());
        });
    }
}
