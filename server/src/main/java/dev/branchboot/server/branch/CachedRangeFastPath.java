package dev.branchboot.server.branch;

import dev.branchboot.server.cache.CachedBytesCorruptedException;
import dev.branchboot.server.cache.CachedRevision;
import dev.branchboot.server.cache.RevisionResolver;
import dev.branchboot.server.http.ByteRange;
import dev.branchboot.server.http.ByteRanges;
import dev.branchboot.server.http.HttpDates;
import dev.branchboot.server.http.ImageFile;
import dev.branchboot.server.http.Preconditions;
import dev.branchboot.server.http.RangeDecision;
import dev.branchboot.server.images.ImagePathHandlerMapping;
import dev.branchboot.server.images.ImageStore;
import dev.branchboot.server.metrics.ImageRequestMetrics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import org.springframework.http.support.Netty4HeadersAdapter;

/**
 * The branch's hot path: a {@code GET} or {@code HEAD} of one range (or a small whole file) of a
 * revision whose blocks are all cached and checked, answered on the connection's event loop
 * straight from Netty, without Spring WebFlux's request machinery or a hop to another thread.
 * Everything else (a miss, a pinned older revision, a condition that fails, several ranges, a
 * revision due for revalidation, a signed block not yet checked against its manifest, anything
 * unusual in the request) goes on to WebFlux's {@link BranchImageWebHandler} unchanged, which
 * gives the same answers, so this class only ever saves work and never decides differently: the
 * same {@link Preconditions}, {@link ByteRanges} and {@link CachedRevision#readBlocksChecked}
 * checks, the same headers, the same counters.
 *
 * <p>Why it exists: a warm boot storm cost the branch 3 to 4 times nginx's CPU through WebFlux
 * (and the zero-copy origin path still 1.7 times), most of it per-request framework work and
 * thread hand-offs, not bytes ({@code bench/branch-cpu.sh}, docs/benchmarks.md "CPU per served
 * boot"). Reading on the event loop is what nginx does without {@code aio threads}: the blocks are
 * read from the page cache almost always; a body is at most {@link #MAX_BODY} so one request never
 * holds the loop for long.
 *
 * <p>Ordering: HTTP/1.1 answers go out in request order. A request is only taken here when no
 * answer from WebFlux is still being written on the connection (it counts the requests it passed
 * on, and the ends of the responses that come back through it), and it is answered before the
 * next request is read. One instance per connection, used on its event loop only.
 */
final class CachedRangeFastPath extends ChannelDuplexHandler {
    /** The largest body answered here: 2 MiB, a few hundred microseconds of the loop at most. */
    static final int MAX_BODY = 2 << 20;

    /** What the fast paths of all connections share. */
    record Shared(RevisionResolver resolver, boolean signed, boolean replicateOnFirstRead, int maxRanges,
                  ImageRequestMetrics requests, Counter hitRequests, Counter hitBytes, Counter checksumFailures,
                  Counter answered) {

        static Shared of(RevisionResolver resolver, boolean signed, boolean replicateOnFirstRead, int maxRanges,
                ImageRequestMetrics requests, MeterRegistry registry) {
            return new Shared(resolver, signed, replicateOnFirstRead, maxRanges, requests,
                    Counter.builder("branchboot.cache.requests").tag("result", "hit").register(registry),
                    Counter.builder("branchboot.cache.served").tag("result", "hit").baseUnit("bytes").register(registry),
                    Counter.builder("branchboot.cache.checksum.failures").register(registry),
                    Counter.builder("branchboot.cache.event.loop.answers")
                            .description("Image requests whose cached bytes were answered on the event loop, outside WebFlux")
                            .register(registry));
        }
    }

    private final Shared shared;
    /** Requests passed on to WebFlux whose responses have not been written to the end yet. */
    private int passedOn;
    /** True while the rest of a request answered here (its content parts) is being dropped. */
    private boolean dropping;

    CachedRangeFastPath(Shared shared) {
        this.shared = shared;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (dropping && msg instanceof HttpContent) {
            if (msg instanceof LastHttpContent) {
                dropping = false;
            }
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof HttpRequest request) {
            if (passedOn == 0 && answer(ctx, request)) {
                dropping = !(msg instanceof LastHttpContent);
                ReferenceCountUtil.release(msg);
                // Reactor Netty reads a connection's next request only when asked (auto-read is off between
                // requests) and asks once it has answered one: for a request it never saw, this asks.
                if (!ctx.channel().config().isAutoRead()) {
                    ctx.read();
                }
                return;
            }
            passedOn++;
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof LastHttpContent && passedOn > 0) {
            passedOn--;
        }
        ctx.write(msg, promise);
    }

    /** Answers {@code request} here and returns true, or returns false having written nothing. */
    private boolean answer(ChannelHandlerContext ctx, HttpRequest request) {
        long started = System.nanoTime();
        HttpMethod method = request.method();
        boolean head = method == HttpMethod.HEAD;
        String uri = request.uri();
        if ((method != HttpMethod.GET && !head) || request.protocolVersion() != HttpVersion.HTTP_1_1
                || !request.decoderResult().isSuccess() || !HttpUtil.isKeepAlive(request)
                || !uri.startsWith(ImagePathHandlerMapping.PREFIX) || uri.indexOf('?') >= 0 || uri.indexOf('#') >= 0) {
            return false;
        }
        HttpHeaders headers = request.headers();
        if (headers.contains(HttpHeaderNames.TRANSFER_ENCODING) || headers.contains(HttpHeaderNames.EXPECT)
                || (headers.contains(HttpHeaderNames.CONTENT_LENGTH) && !"0".equals(headers.get(HttpHeaderNames.CONTENT_LENGTH)))) {
            return false;
        }
        String name;
        try {
            name = ImageStore.decodeName(uri.substring(ImagePathHandlerMapping.PREFIX.length()));
        } catch (RuntimeException e) {
            return false; // WebFlux answers 400 or 404 with its problem body
        }
        CachedRevision revision = shared.resolver().known(name);
        if (revision == null || (shared.replicateOnFirstRead() && !revision.complete())) {
            return false;
        }
        var upstream = revision.upstream();
        ImageFile file = new ImageFile(name, name, revision.dataFile(), upstream.size(),
                upstream.lastModified() != null ? upstream.lastModified() : Instant.EPOCH, upstream.etag());
        org.springframework.http.HttpHeaders springHeaders = new org.springframework.http.HttpHeaders(
                new Netty4HeadersAdapter(headers));
        // A condition that is not plainly met (a pin to an older revision, 304, 412) is WebFlux's to answer.
        if (Preconditions.evaluate(springHeaders, head ? org.springframework.http.HttpMethod.HEAD
                : org.springframework.http.HttpMethod.GET, file) != Preconditions.Outcome.PROCEED) {
            return false;
        }
        String range = headers.get(HttpHeaderNames.RANGE);
        long first = 0;
        long length = file.size();
        boolean partial = false;
        if (range != null && !head && Preconditions.rangeApplies(springHeaders, file)) {
            RangeDecision decision = ByteRanges.evaluate(range, file.size(), shared.maxRanges());
            if (!(decision instanceof RangeDecision.Partial p) || p.ranges().size() != 1) {
                return false;
            }
            ByteRange only = p.ranges().get(0);
            first = only.first();
            length = only.length();
            partial = true;
        }
        if ((!head && length > MAX_BODY) || length == 0) {
            return false;
        }
        if (!head && !revision.allPresent(first, first + length - 1)) {
            return false;
        }
        if (!head && shared.signed() && !revision.allVouchedFor(first, first + length - 1)) {
            return false; // its first check against the manifest may fetch a page: not on the event loop
        }
        if (!revision.acquire()) {
            return false;
        }
        ByteBuf body;
        try {
            body = head ? Unpooled.EMPTY_BUFFER : read(ctx, revision, first, (int) length);
        } catch (CachedBytesCorruptedException e) {
            // Dropped already: WebFlux fetches them again and says so in the log.
            shared.checksumFailures().increment(e.offsets().length);
            return false;
        } catch (IOException | RuntimeException e) {
            return false;
        } finally {
            revision.release();
        }
        DefaultHttpResponse response = head
                ? new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, Unpooled.EMPTY_BUFFER)
                : new DefaultHttpResponse(HttpVersion.HTTP_1_1, partial ? HttpResponseStatus.PARTIAL_CONTENT : HttpResponseStatus.OK);
        // The names as WebFlux and nginx spell them (Netty's constants are lower case): some clients compare them.
        // Spelled as WebFlux and nginx spell them (Netty's constants are lower case): some clients compare names.
        HttpHeaders out = response.headers();
        out.set("Date", HttpDates.now());
        out.set("ETag", file.etag());
        if (!file.lastModified().equals(Instant.EPOCH)) {
            out.set("Last-Modified", HttpDates.format(file.lastModified()));
        }
        out.set("Accept-Ranges", HttpHeaderValues.BYTES);
        if (upstream.contentLocation() != null) {
            out.set("Content-Location", upstream.contentLocation());
        }
        if (partial) {
            out.set("Content-Range", "bytes " + first + "-" + (first + length - 1) + "/" + file.size());
        }
        out.set("Content-Type", HttpHeaderValues.APPLICATION_OCTET_STREAM);
        out.set("Content-Length", length);
        // Counted before the answer leaves, so whoever reads it sees it counted.
        shared.answered().increment();
        if (!head) {
            shared.hitRequests().increment();
            shared.hitBytes().increment(length);
        }
        shared.requests().record("image", method.name(), response.status().code(), System.nanoTime() - started,
                head ? null : length);
        if (head) {
            ctx.writeAndFlush(response);
        } else {
            ctx.write(response);
            ctx.writeAndFlush(new DefaultLastHttpContent(body));
        }
        return true;
    }

    /** The checked bytes {@code [first, first + length)}, read whole blocks at a time into a buffer of the connection's. */
    private static ByteBuf read(ChannelHandlerContext ctx, CachedRevision revision, long first, int length) throws IOException {
        long start = revision.blockStartOf(first);
        int span = (int) (revision.blockEndOf(first + length) - start);
        ByteBuf blocks = ctx.alloc().directBuffer(span, span);
        try {
            ByteBuffer target = blocks.nioBuffer(0, span);
            revision.readBlocksChecked(start, target);
            blocks.writerIndex(span);
            return blocks.retainedSlice((int) (first - start), length);
        } finally {
            blocks.release();
        }
    }
}
