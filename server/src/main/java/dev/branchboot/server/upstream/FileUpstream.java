package dev.branchboot.server.upstream;

import dev.branchboot.server.http.ImageFile;
import dev.branchboot.server.images.ImageNameException;
import dev.branchboot.server.images.ImageNotFoundException;
import dev.branchboot.server.images.ImageStore;
import dev.branchboot.server.util.DisplayUrl;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * A local folder as an upstream ({@code file:/DIR}, such as an NFS mount), read by the origin's
 * own name rules ({@link ImageStore}); the file's ETag is the origin's, and a file replaced while
 * it was read fails the read rather than mix two revisions. File I/O runs on bounded-elastic
 * threads.
 */
final class FileUpstream implements Upstream {
    private final URI upstream;
    private volatile ImageStore folder;

    FileUpstream(URI upstream) {
        this.upstream = upstream;
    }

    @Override
    public URI uri() {
        return upstream;
    }

    @Override
    public Mono<UpstreamRevision> describe(String name) {
        return describeFile(upstream, name);
    }

    @Override
    public Mono<byte[]> fetch(UpstreamRevision revision, long first, int length) {
        return fetchFile(upstream, revision, first, length);
    }

    private Mono<UpstreamRevision> describeFile(URI upstream, String name) {
        return Mono.fromCallable(() -> {
            ImageFile file = resolveFile(upstream, name, "image '" + name + "'");
            return new UpstreamRevision(name, file.etag(), false, file.size(), file.lastModified(), null, upstream);
        }).subscribeOn(Schedulers.boundedElastic());
    }

    /**
     * Image {@code name} in the folder of a {@code file:} upstream, by the origin's own rules
     * ({@link ImageStore}): no dot-files, no {@code *.part} uploads, no symlink leading out of the
     * folder or to a file that would not be served by name.
     */
    private ImageFile resolveFile(URI upstream, String name, String what) {
        ImageStore folder = this.folder;
        if (folder == null) {
            try {
                folder = ImageStore.folder(Path.of(upstream));
            } catch (IOException e) {
                throw new UpstreamException(UpstreamException.Kind.IO, upstream, what + ": cannot open the image folder "
                        + DisplayUrl.of(upstream) + ": " + e, e);
            }
            this.folder = folder;
        }
        try {
            return folder.resolve(name);
        } catch (ImageNotFoundException | ImageNameException e) {
            throw new UpstreamException(UpstreamException.Kind.NOT_FOUND, upstream, "image '" + name + "' not found: "
                    + e.getMessage(), null);
        }
    }

    private Mono<byte[]> fetchFile(URI upstream, UpstreamRevision revision, long first, int length) {
        String what = revision.describeRange(first, length);
        return Mono.fromCallable(() -> resolveFile(upstream, revision.name(), what)).subscribeOn(Schedulers.boundedElastic())
                .flatMap(current -> {
            if (!current.etag().equals(revision.etag())) {
                return Mono.error(new UpstreamException(UpstreamException.Kind.REVISION_GONE, upstream, what
                        + ": the file is now revision " + current.etag(), null));
            }
            return Mono.fromCallable(() -> {
                ByteBuffer buffer = ByteBuffer.allocate(length);
                try (FileChannel channel = FileChannel.open(current.path(), StandardOpenOption.READ)) {
                    while (buffer.hasRemaining()) {
                        if (channel.read(buffer, first + buffer.position()) < 0) {
                            throw new UpstreamException(UpstreamException.Kind.WRONG_LENGTH, upstream, what
                                    + ": the file ended at " + (first + buffer.position()), null);
                        }
                    }
                } catch (IOException e) {
                    throw new UpstreamException(UpstreamException.Kind.IO, upstream, what + ": " + e, e);
                }
                return buffer.array();
            }).subscribeOn(Schedulers.boundedElastic());
        }).flatMap(bytes -> describeFile(upstream, revision.name()).flatMap(after -> after.etag().equals(revision.etag())
                ? Mono.just(bytes)
                // Replaced while we read: the bytes may mix two files.
                : Mono.error(new UpstreamException(UpstreamException.Kind.REVISION_GONE, upstream, what
                        + ": the file changed while it was read", null))));
    }

}
