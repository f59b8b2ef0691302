package dev.branchboot.server.images;

import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.config.OriginMode;
import dev.branchboot.server.http.ByteRange;
import dev.branchboot.server.http.HttpDates;
import dev.branchboot.server.http.ImageFile;
import dev.branchboot.server.http.MultipartByteRanges;
import dev.branchboot.server.http.Problems;
import dev.branchboot.server.http.RangeResponder;
import dev.branchboot.server.metrics.ImageRequestMetrics;
import java.io.EOFException;
import java.io.IOException;
import java.nio.channels.AsynchronousFileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ZeroCopyHttpOutputMessage;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebHandler;
import org.springframework.web.util.UriUtils;
import reactor.core.publisher.Mono;

/**
 * {@code GET} and {@code HEAD /images/{name}} (routed here by {@link ImageHandlerMapping}):
 * serves one image file with strong ETags, the conditional requests and range requests of
 * RFC 9110, and Content-Location naming the revision when the name is a symlink. Whole files and single ranges are sent zero-copy (sendfile).
 */
@OriginMode
@Component
public class ImageWebHandler implements WebHandler {
    private static final Logger log = LoggerFactory.getLogger(ImageWebHandler.class);

    private final ImageStore store;
    private final int maxRanges;
    private final int multipartBufferSize;

    /** Serves the images of {@code store} with the configured range limits. */
    public ImageWebHandler(ImageStore store, BranchbootProperties properties) {
        this.store = store;
        this.maxRanges = properties.maxRanges();
        this.multipartBufferSize = (int) properties.multipartBufferSize().toBytes();
    }

    /** Serves one image, or a part of it, or an answer to a conditional request, or an error. */
    @Override
    public Mono<Void> handle(ServerWebExchange exchange) {
        ServerHttpRequest request = exchange.getRequest();
        ServerHttpResponse response = exchange.getResponse();
        response.getHeaders().set(HttpHeaders.DATE, HttpDates.now());
        if (!Problems.readsImage(request.getMethod())) {
            return Problems.methodNotAllowed(exchange);
        }
        String rawPath = request.getPath().pathWithinApplication().value();
        ImageFile file;
        try {
            // Stat on the event loop: a handful of syscalls, cheaper than a thread hop per request.
            file = store.resolveEncoded(rawPath.substring(ImagePathHandlerMapping.PREFIX.length()));
        } catch (ImageNameException e) {
            log.debug("{}", e.getMessage());
            return Problems.send(exchange, HttpStatus.BAD_REQUEST, e.getMessage());
        } catch (ImageNotFoundException e) {
            // The reason stays in the debug log: telling a prober what exists outside the root helps nobody.
            log.debug("{}", e.getMessage());
            return Problems.noSuchImage(exchange, e.imageName());
        }
        String contentLocation = file.symlinked()
                ? ImagePathHandlerMapping.PREFIX + UriUtils.encodePath(file.revision(), StandardCharsets.UTF_8) : null;
        return RangeResponder.respond(exchange, file, contentLocation, maxRanges, new RangeResponder.BodySender() {
            @Override
            public Mono<Void> send(HttpStatus status, long position, long count) {
                return sendRegion(exchange, file, status, position, count);
            }

            @Override
            public Mono<Void> multipart(MultipartByteRanges multipart, List<ByteRange> ranges) {
                return response.writeWith(multipart.body(response.bufferFactory(), multipartBufferSize))
                        .doOnError(e -> logSendFailure(file, ranges.toString(), e));
            }
        });
    }

    /**
     * A body that could not be sent: usually the client went away (debug), otherwise something an
     * operator should see, such as an image truncated or unreadable on the file system.
     */
    private static void logSendFailure(ImageFile file, String ranges, Throwable e) {
        if (e instanceof IOException && !(e instanceof EOFException)) {
            log.debug("Sending image '{}' range {} stopped: {}", file.name(), ranges, e.toString());
        } else {
            log.warn("Sending image '{}' (revision '{}') range {} failed: {}", file.name(), file.revision(), ranges,
                    e.toString());
        }
    }

    private Mono<Void> sendRegion(ServerWebExchange exchange, ImageFile file, HttpStatus status, long position, long count) {
        ServerHttpResponse response = exchange.getResponse();
        response.setStatusCode(status);
        HttpHeaders headers = response.getHeaders();
        headers.setContentType(MediaType.APPLICATION_OCTET_STREAM);
        headers.setContentLength(count);
        if (exchange.getRequest().getMethod() == HttpMethod.HEAD || count == 0) {
            return response.setComplete();
        }
        ImageRequestMetrics.recordBodyBytes(exchange, count);
        String range = position + "-" + (position + count - 1);
        if (response instanceof ZeroCopyHttpOutputMessage zeroCopy) {
            return zeroCopy.writeWith(file.path(), position, count).doOnError(e -> logSendFailure(file, range, e));
        }
        // A decorated response (a filter wrapped it) cannot sendfile: stream the region instead.
        return response.writeWith(DataBufferUtils.takeUntilByteCount(
                DataBufferUtils.readAsynchronousFileChannel(
                        () -> AsynchronousFileChannel.open(file.path(), StandardOpenOption.READ),
                        position, response.bufferFactory(), multipartBufferSize), count))
                .doOnError(e -> logSendFailure(file, range, e));
    }
}
