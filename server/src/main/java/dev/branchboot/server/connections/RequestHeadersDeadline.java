package dev.branchboot.server.connections;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Closes a connection whose client started a request and did not finish its headers in time, as
 * Node's {@code headersTimeout} and Apache's {@code mod_reqtimeout} do: a client that sends its
 * request line a byte every few seconds keeps an idle timeout from ever firing, and each such
 * connection holds a socket and a buffer forever.
 *
 * <p>The clock starts at the first byte of a request (so an idle keep-alive connection is left to
 * the idle timeout) and stops when the HTTP decoder has the whole request head. It is two handlers
 * around the decoder, sharing this object's state; both run on the connection's event loop, so the
 * state needs no locks: {@link #bytesIn()} goes before the HTTP codec (it sees the first byte),
 * {@link #requestsOut()} after it (it sees the decoded head and the end of each response). One
 * instance per connection.
 */
final class RequestHeadersDeadline {
    /** Told about each connection that was closed, with the client's address. */
    interface Listener {
        void timedOut(String remoteAddress);
    }

    private final Duration timeout;
    private final Listener listener;
    /** True between the end of a response (or the connection's start) and the next request's first byte. */
    private boolean awaitingRequest = true;
    private ScheduledFuture<?> deadline;

    RequestHeadersDeadline(Duration timeout, Listener listener) {
        this.timeout = timeout;
        this.listener = listener;
    }

    /** The handler before the HTTP codec: starts the clock at a request's first byte. */
    ChannelHandler bytesIn() {
        return new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (awaitingRequest && deadline == null && msg instanceof ByteBuf bytes && bytes.isReadable()) {
                    awaitingRequest = false;
                    deadline = ctx.executor().schedule(() -> expire(ctx), timeout.toMillis(), TimeUnit.MILLISECONDS);
                }
                ctx.fireChannelRead(msg);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                stop();
                ctx.fireChannelInactive();
            }
        };
    }

    /** The handler after the HTTP codec: stops the clock at a decoded request head, rearms at a response's end. */
    ChannelHandler requestsOut() {
        return new ChannelDuplexHandler() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof HttpRequest) {
                    stop();
                    awaitingRequest = false;
                }
                ctx.fireChannelRead(msg);
            }

            @Override
            public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
                if (msg instanceof LastHttpContent) {
                    awaitingRequest = true;
                }
                ctx.write(msg, promise);
            }
        };
    }

    private void expire(ChannelHandlerContext ctx) {
        deadline = null;
        listener.timedOut(String.valueOf(ctx.channel().remoteAddress()));
        ctx.channel().close();
    }

    private void stop() {
        if (deadline != null) {
            deadline.cancel(false);
            deadline = null;
        }
    }
}
