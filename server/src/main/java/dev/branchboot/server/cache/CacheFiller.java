package dev.branchboot.server.cache;

import dev.branchboot.server.cache.InFlightFetches.Fetch;
import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.upstream.UpstreamClient;
import dev.branchboot.server.util.RateLimitedLog;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferFactory;
import org.springframework.core.io.buffer.DataBufferUtils;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Decides what crosses the uplink: for a range a client asks for, the blocks that are neither
 * cached nor being fetched already, and nothing else. Each such gap is fetched as it is, split only
 * on a grid of {@code branchboot.cache.fetch-size} so one fetch stays bounded and a long read
 * streams in several fetches at once. A reader whose bytes are being fetched for someone else
 * joins that fetch, whatever range it was started for (single flight over spans, not keys): twenty
 * PCs booting at once pull each byte over the uplink once.
 *
 * <p>With {@code branchboot.trust-key}, a fetch's bytes are first checked against the image's signed
 * manifest ({@link SignedManifests}); bytes that fail never reach a reader or the disk. Fetched
 * bytes go to the waiting readers at once; storing them (write, shared fsync, checksums,
 * presence) follows in the background, and the fetch leaves the registry only when its blocks are
 * present, so no reader in between fetches them again. A span that cannot be written (cache disk
 * full or failing) is still served: the cache degrades to pass-through and says so in the log (at
 * most every 10 s) and in {@code branchboot_cache_store_failures_total}.
 */
@BranchMode
@Component
public class CacheFiller {
    private static final Logger log = LoggerFactory.getLogger(CacheFiller.class);

    /** A piece of a planned range: where its bytes come from. */
    public sealed interface Part {
        /** The first byte of the piece. */
        long start();

        /** The end of the piece (exclusive). */
        long end();

        /** The piece's length. */
        default int length() {
            return (int) (end() - start());
        }
    }

    /** Bytes already cached, read from the data file. */
    public record Cached(long start, long end) implements Part {
    }

    /** Bytes that arrive with an upstream fetch, started for this range or joined. */
    public record Fetched(Fetch fetch, long start, long end, boolean joined) implements Part {
    }

    private final UpstreamClient upstreams;
    private final SignedManifests manifests;
    private final CacheMetrics metrics;
    private final int fetchSize;
    private final RateLimitedLog storeWarnings = RateLimitedLog.every10Seconds(log);
    private final RateLimitedLog corruptionWarnings = RateLimitedLog.every10Seconds(log);
    private final RateLimitedLog manifestWarnings = RateLimitedLog.every10Seconds(log);

    /** Fills revisions from {@code upstreams} in fetches of at most {@code branchboot.cache.fetch-size}. */
    public CacheFiller(UpstreamClient upstreams, SignedManifests manifests, CacheMetrics metrics, BranchbootProperties properties) {
        this.upstreams = upstreams;
        this.manifests = manifests;
        this.metrics = metrics;
        this.fetchSize = (int) properties.cache().fetchSize().toBytes();
    }

    /** The largest single upstream fetch, also the grid that long reads are split on. */
    public int fetchSize() {
        return fetchSize;
    }

    /**
     * Plans bytes {@code [start, end)} of {@code revision} in order: cached runs, fetches joined,
     * and new fetches for the missing blocks, which start now and run to the end even if the caller
     * goes away (others may have joined them). Keep ranges to a few fetch sizes: every fetch
     * planned is started at once.
     */
    public List<Part> plan(CachedRevision revision, long start, long end) {
        List<Part> parts = new ArrayList<>();
        List<Fetch> started = new ArrayList<>();
        InFlightFetches inFlight = revision.inFlight;
        synchronized (inFlight) {
            long position = start;
            while (position < end) {
                if (revision.isPresent(position)) {
                    long runEnd = Math.min(end, revision.presentRunEnd(position));
                    parts.add(new Cached(position, runEnd));
                    position = runEnd;
                    continue;
                }
                Fetch running = inFlight.covering(position);
                if (running != null) {
                    long partEnd = Math.min(end, running.end);
                    parts.add(new Fetched(running, position, partEnd, true));
                    metrics.joins.increment();
                    position = partEnd;
                    continue;
                }
                // A gap: the blocks from here to the next cached or in-flight byte, or the range's last block.
                long gapStart = revision.blockStart(position);
                long gapEnd = Math.min(revision.blockEnd(end),
                        Math.min(revision.nextPresent(position), inFlight.nextStart(position)));
                for (long pieceStart = gapStart; pieceStart < gapEnd; ) {
                    long pieceEnd = Math.min(gapEnd, (pieceStart / fetchSize + 1) * fetchSize);
                    Fetch fetch = new Fetch(pieceStart, pieceEnd);
                    inFlight.add(fetch);
                    started.add(fetch);
                    parts.add(new Fetched(fetch, Math.max(position, pieceStart), Math.min(end, pieceEnd), false));
                    pieceStart = pieceEnd;
                }
                position = Math.min(end, gapEnd);
            }
        }
        for (Fetch fetch : started) {
            start(revision, fetch);
        }
        return parts;
    }

    /**
     * The bytes of {@code part}: from its fetch once it arrived, or read from the data file and
     * checked ({@link CachedRevision#readChecked}); cached blocks that fail their check are dropped,
     * counted in {@code branchboot_cache_checksum_failures_total} and fetched again, so a client
     * gets the right bytes or an error, never the bytes a disk rotted.
     */
    public Mono<ByteBuffer> bytes(CachedRevision revision, Part part) {
        if (part instanceof Fetched fetched) {
            Fetch fetch = fetched.fetch();
            return Mono.fromFuture(fetch.bytes, true)
                    .map(bytes -> ByteBuffer.wrap(bytes, (int) (fetched.start() - fetch.start), fetched.length()).slice());
        }
        return Mono.fromCallable(() -> revision.readChecked(part.start(), part.length(), verifierOf(revision)))
                .subscribeOn(FileWork.SCHEDULER)
                .onErrorResume(CachedBytesCorruptedException.class, e -> {
                    metrics.checksumFailures.increment(e.offsets().length);
                    corruptionWarnings.warn("{} (see branchboot_cache_checksum_failures_total). Check the cache disk.",
                            e.getMessage());
                    return refetched(revision, part.start(), part.end());
                });
    }

    /**
     * As {@link #bytes}, in a buffer of {@code factory}'s: cached bytes that need no manifest check
     * are read straight into it (for a response, a pooled direct buffer: one copy instead of three,
     * and no fresh memory to clear). The caller releases it, as a response does.
     */
    public Mono<DataBuffer> buffer(CachedRevision revision, Part part, DataBufferFactory factory) {
        if (part instanceof Fetched || (manifests.enabled() && revision.upstream().signedContent() != null
                && !revision.allVouchedFor(part.start(), part.end() - 1))) {
            return bytes(revision, part).map(factory::wrap);
        }
        return Mono.fromCallable(() -> readInto(revision, part, factory))
                .subscribeOn(FileWork.SCHEDULER)
                .onErrorResume(CachedBytesCorruptedException.class, e -> {
                    metrics.checksumFailures.increment(e.offsets().length);
                    corruptionWarnings.warn("{} (see branchboot_cache_checksum_failures_total). Check the cache disk.",
                            e.getMessage());
                    return refetched(revision, part.start(), part.end()).map(factory::wrap);
                });
    }

    private static DataBuffer readInto(CachedRevision revision, Part part, DataBufferFactory factory) throws IOException {
        long start = revision.blockStartOf(part.start());
        int span = (int) (revision.blockEndOf(part.end()) - start);
        int skip = (int) (part.start() - start);
        DataBuffer buffer = factory.allocateBuffer(span);
        try {
            try (DataBuffer.ByteBufferIterator writable = buffer.writableByteBuffers()) {
                ByteBuffer target = writable.hasNext() ? writable.next() : null;
                if (target == null || target.remaining() < span) {
                    // Not one contiguous region: read it aside and copy it in.
                    ByteBuffer bytes = revision.readChecked(part.start(), part.length(), null);
                    buffer.write(bytes);
                    return buffer;
                }
                revision.readBlocksChecked(start, target.limit(target.position() + span));
            }
            buffer.writePosition(skip + part.length());
            buffer.readPosition(skip);
            return buffer;
        } catch (IOException | RuntimeException e) {
            DataBufferUtils.release(buffer);
            throw e;
        }
    }

    /** Bytes {@code [start, end)} planned again after their cached blocks were dropped: fetched, in one buffer. */
    private Mono<ByteBuffer> refetched(CachedRevision revision, long start, long end) {
        return Flux.defer(() -> Flux.fromIterable(plan(revision, start, end)))
                .concatMap(part -> bytes(revision, part))
                .collect(() -> ByteBuffer.allocate((int) (end - start)), ByteBuffer::put)
                .map(ByteBuffer::flip);
    }

    /**
     * The signed manifest cached bytes are checked against, or {@code null} without a trust key.
     * When no upstream can give the manifest (a branch restarted while its uplink is down), cached
     * bytes are checked against their checksums only: they were checked against the manifest when
     * they were fetched, and the checksums show they are still what was stored then.
     */
    private dev.branchboot.integrity.ImageVerifier verifierOf(CachedRevision revision) throws java.io.IOException {
        if (!manifests.enabled() || revision.upstream().signedContent() == null) {
            return null;
        }
        try {
            return manifests.verifier(revision.upstream());
        } catch (dev.branchboot.server.upstream.UpstreamException e) {
            if (e.kind() == dev.branchboot.server.upstream.UpstreamException.Kind.INTEGRITY && !(e.getCause()
                    instanceof dev.branchboot.server.upstream.UpstreamException)) {
                throw e;
            }
            manifestWarnings.warn("Cannot read the signed manifest of image '{}' revision {} ({}); serving its cached bytes "
                    + "checked against their checksums only until an upstream answers", revision.upstream().name(),
                    revision.upstream().etag(), e.getMessage());
            return null;
        }
    }

    /**
     * Makes bytes {@code [start, end)} of {@code revision} present, fetching what is missing (and
     * joining what is being fetched): for replication.
     *
     * @return a Mono of the bytes this call fetched or joined, completing once they are stored, or
     *         failing with the upstream's error
     */
    public Mono<Long> fill(CachedRevision revision, long start, long end) {
        return Mono.defer(() -> {
            List<CompletableFuture<?>> waits = new ArrayList<>();
            long bytes = 0;
            for (Part part : plan(revision, start, end)) {
                if (part instanceof Fetched fetched) {
                    waits.add(fetched.fetch().bytes);
                    waits.add(fetched.fetch().settled);
                    bytes += fetched.length();
                }
            }
            long total = bytes;
            return Mono.fromFuture(CompletableFuture.allOf(waits.toArray(CompletableFuture[]::new)), true).thenReturn(total);
        });
    }

    private void start(CachedRevision revision, Fetch fetch) {
        metrics.fetches.increment();
        metrics.fetchedBytes.increment(fetch.length());
        // With a trust key, the bytes are checked against the signed manifest before the readers get them.
        upstreams.fetch(revision.upstream(), fetch.start, fetch.length(), manifests.check(revision.upstream())).subscribe(bytes -> {
            fetch.bytes.complete(bytes);
            Schedulers.boundedElastic().schedule(() -> store(revision, fetch, bytes));
        }, error -> {
            revision.inFlight.remove(fetch);
            fetch.bytes.completeExceptionally(error);
            fetch.settled.complete(null);
        });
    }

    private void store(CachedRevision revision, Fetch fetch, byte[] bytes) {
        try {
            revision.store(fetch.start, bytes);
            if (manifests.enabled()) {
                // Checked against the signed manifest before anyone got them: no second check at their first read.
                revision.vouchFor(fetch.start, bytes.length);
            }
        } catch (Exception e) {
            metrics.storeFailures.increment();
            storeWarnings.warn("Cannot store bytes {}-{} of image '{}' revision {} in the cache: {}; serving them pass-through "
                    + "from the upstream. Is the cache disk full? (see branchboot_cache_store_failures_total)", fetch.start,
                    fetch.end - 1, revision.upstream().name(), revision.upstream().etag(), e.toString());
        } finally {
            revision.inFlight.remove(fetch);
            fetch.settled.complete(null);
        }
    }
}
