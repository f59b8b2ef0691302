package dev.branchboot.server.connections;

import io.netty.channel.EventLoop;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.server.reactive.ServerHttpRequestDecorator;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;
import reactor.netty.Connection;

/**
 * Starts every request's handling in a task of its own on the connection's event loop, instead of
 * inside the task that dispatched it. Works around a Reactor Netty 1.3.6 bug (reactor-netty#4361,
 * reworked in 1.3.8, which needs a Netty whose native jars are not served to this build): a
 * kept-alive request that arrived while the previous response was still being finished is queued,
 * and when it is then answered within the dispatching task (a 404 for a hidden name, a boot script)
 * the connection never reads again, and the client's next request waits until it times out. It hit
 * about one request in twenty after an answer from another thread (a branch's revision look-up):
 * {@code QueuedKeepAliveRequestsTest}. The extra task runs on the same thread: no hop between
 * threads on the hot path.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE)
public class QueuedRequestDispatch implements WebFilter {

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        Object nativeRequest = ServerHttpRequestDecorator.getNativeRequest(exchange.getRequest());
        if (nativeRequest instanceof Connection connection) {
            EventLoop loop = connection.channel().eventLoop();
            if (loop.inEventLoop()) {
                return Mono.<Void>create(sink -> loop.execute(sink::success)).then(Mono.defer(() -> chain.filter(exchange)));
            }
        }
        return chain.filter(exchange);
    }
}
