package dev.branchboot.server.connections;

import dev.branchboot.server.util.RateLimitedLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.HttpRequest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.reactor.netty.NettyServerCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import reactor.netty.NettyPipeline;

/**
 * Logs requests whose head could not be decoded (a malformed request line or header, a line or a
 * head too long) at most once per 10 s, and counts them in
 * {@code branchboot_http_malformed_requests_total}. Reactor Netty answers them itself (400, 414,
 * 431) and logs each at WARN as "Decoding failed" under
 * {@code reactor.netty.http.server.HttpServerOperations}: one line per request at whatever rate a
 * client sends them, and one per slow connection cut off in the middle of its head (30 slow-loris
 * connections, 30 lines). That logger is set to ERROR in {@code application.properties} (it has no
 * other WARN line) and this is the line instead. A head cut off because its connection closed is
 * not a malformed request: the client went away, or {@link RequestHeadersDeadline} closed it and
 * logged that itself.
 */
@Configuration(proxyBeanMethods = false)
public class MalformedRequests {
    private static final Logger LOG = LoggerFactory.getLogger(MalformedRequests.class);

    /** Adds the observer after the HTTP codec of every HTTP/1.1 connection. */
    @Bean
    NettyServerCustomizer malformedRequestsLog(MeterRegistry registry) {
        Counter refused = Counter.builder("branchboot.http.malformed.requests")
                .description("Requests whose head could not be decoded (Reactor Netty answered 400, 414 or 431)")
                .register(registry);
        ChannelHandler observer = new Observer(refused, RateLimitedLog.every10Seconds(LOG));
        return server -> server.doOnChannelInit((connectionObserver, channel, remoteAddress) -> {
            if (channel.pipeline().get(NettyPipeline.HttpCodec) != null) {
                channel.pipeline().addAfter(NettyPipeline.HttpCodec, "branchboot.malformedRequests", observer);
            }
        });
    }

    /** Sees every decoded request head and passes it on unchanged. One instance serves every connection. */
    @ChannelHandler.Sharable
    private static final class Observer extends ChannelInboundHandlerAdapter {
        private final Counter refused;
        private final RateLimitedLog warnings;

        Observer(Counter refused, RateLimitedLog warnings) {
            this.refused = refused;
            this.warnings = warnings;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof HttpRequest request) {
                DecoderResult result = request.decoderResult();
                if (result.isFailure() && !(result.cause() instanceof PrematureChannelClosureException)) {
                    refused.increment();
                    warnings.warn("Refused a malformed request from {}: {}", ctx.channel().remoteAddress(),
                            String.valueOf(result.cause()));
                }
            }
            ctx.fireChannelRead(msg);
        }
    }
}
