package dev.branchboot.server.http;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import org.reactivestreams.Publisher;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferFactory;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Schedulers;

/**
 * A {@code multipart/byteranges} body (RFC 9110 section 14.6) for several ranges of one image:
 * its boundary, exact length (so the response carries Content-Length), and the bytes, read from
 * the file in bounded buffers on the blocking scheduler.
 */
public final class MultipartByteRanges {
    private static final String PART_CONTENT_TYPE = "application/octet-stream";

    private final ImageFile file;
    private final List<ByteRange> ranges;
    private final String boundary;
    private final List<byte[]> partHeaders;
    private final byte[] closing;
    private final long contentLength;

    /** Lays out the body for {@code ranges} of {@code file}. */
    public MultipartByteRanges(ImageFile file, List<ByteRange> ranges) {
        this.file = file;
        this.ranges = List.copyOf(ranges);
        this.boundary = "branchboot-" + Long.toHexString(ThreadLocalRandom.current().nextLong())
                + Long.toHexString(ThreadLocalRandom.current().nextLong());
        this.partHeaders = new ArrayList<>(ranges.size());
        long length = 0;
        for (int i = 0; i < ranges.size(); i++) {
            ByteRange range = ranges.get(i);
            // Each part's data is followed by CRLF, which belongs to the next delimiter (RFC 2046).
            String header = (i == 0 ? "" : "\r\n") + "--" + boundary + "\r\n"
                    + "Content-Type: " + PART_CONTENT_TYPE + "\r\n"
                    + "Content-Range: " + range.contentRange(file.size()) + "\r\n\r\n";
            byte[] bytes = header.getBytes(StandardCharsets.US_ASCII);
            partHeaders.add(bytes);
            length += bytes.length + range.length();
        }
        this.closing = ("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII);
        this.contentLength = length + closing.length;
    }

    /** The response's Content-Type, with the boundary. */
    public String contentType() {
        return "multipart/byteranges; boundary=" + boundary;
    }

    /** The body's exact length in bytes. */
    public long contentLength() {
        return contentLength;
    }

    /** The body: part headers and file bytes, read in buffers of at most {@code bufferSize} bytes. */
    public Flux<DataBuffer> body(DataBufferFactory factory, int bufferSize) {
        return Flux.using(
                () -> FileChannel.open(file.path(), StandardOpenOption.READ),
                channel -> Flux.range(0, ranges.size())
                        .concatMap(i -> Flux.concat(
                                Flux.just(partHeaders.get(i)).map(factory::wrap),
                                region(channel, ranges.get(i), factory, bufferSize)))
                        .concatWith(Flux.defer(() -> Flux.just(factory.wrap(closing)))),
                MultipartByteRanges::closeQuietly)
                .subscribeOn(Schedulers.boundedElastic());
    }

    /**
     * The body with each range's bytes taken from {@code regions} instead of the file: for the
     * branch cache, whose ranges may still be arriving from an upstream.
     */
    public Flux<DataBuffer> body(DataBufferFactory factory, Function<ByteRange, Publisher<DataBuffer>> regions) {
        return Flux.range(0, ranges.size())
                .concatMap(i -> Flux.concat(
                        Flux.just(partHeaders.get(i)).map(factory::wrap),
                        regions.apply(ranges.get(i))))
                .concatWith(Flux.defer(() -> Flux.just(factory.wrap(closing))));
    }

    private Flux<DataBuffer> region(FileChannel channel, ByteRange range, DataBufferFactory factory, int bufferSize) {
        return Flux.generate(() -> range.first(), (position, sink) -> {
            long remaining = range.last() + 1 - position;
            if (remaining <= 0) {
                sink.complete();
                return position;
            }
            ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(bufferSize, remaining));
            try {
                long at = position;
                while (buffer.hasRemaining()) {
                    int read = channel.read(buffer, at);
                    if (read < 0) {
                        throw new EOFException("image '" + file.revision() + "' ended at " + at
                                + " while sending range " + range + " (was it truncated in place?)");
                    }
                    at += read;
                }
            } catch (IOException e) {
                sink.error(e);
                return position;
            }
            buffer.flip();
            sink.next(factory.wrap(buffer));
            return position + buffer.limit();
        });
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Nothing was written through it; a failed close of a read-only channel loses nothing.
        }
    }
}
