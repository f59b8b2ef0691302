package dev.branchboot.server.cache;

import dev.branchboot.integrity.AcceptedRevisions;
import dev.branchboot.integrity.ImageManifest;
import dev.branchboot.integrity.ImageVerifier;
import dev.branchboot.integrity.ManifestException;
import dev.branchboot.integrity.PemKeys;
import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.http.EntityTags;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.upstream.UpstreamClient;
import dev.branchboot.server.upstream.UpstreamException;
import dev.branchboot.server.upstream.UpstreamRevision;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.security.PublicKey;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * The branch's trust in what its upstreams send, with {@code branchboot.trust-key}: each image
 * revision's manifest ({@code REVISION.manifest} on the upstreams, the revision's own name) must be
 * signed by the publisher's key and describe a file of the revision's length; its content digest
 * becomes part of the revision's identity; and every fetched byte is checked against it before
 * anyone may use it ({@link #check}): bytes that fail are the upstream's fault (counted in
 * {@code branchboot_cache_integrity_failures_total}, the next upstream tried), so no cache and no
 * path between here and the origin has to be trusted. Without a key nothing is checked.
 *
 * <p>A manifest must be signed for the name asked for (the image's name or the revision file's own
 * name), and the current revision of a name must not be older than one this branch accepted for
 * it before ({@link AcceptedRevisions}, kept in {@code accepted-revisions} in the cache directory):
 * a server offering another image or last month's revision under a name, each with a valid
 * signature, is refused. Manifest files themselves ({@code *.manifest}) are served as they are:
 * their head is signed and their pages are checked against it by every reader.
 */
@BranchMode
@Component
public class SignedManifests {
    private static final Logger log = LoggerFactory.getLogger(SignedManifests.class);
    private static final Duration PAGE_TIMEOUT = Duration.ofMinutes(2);

    /** The suffix of a manifest's name: a manifest vouches for itself and has no manifest. */
    public static final String MANIFEST_SUFFIX = ".manifest";
    /** Where, in the cache directory, the newest revision accepted for each name is remembered. */
    static final String ACCEPTED_FILE = "accepted-revisions";

    private final UpstreamClient upstreams;
    private final PublicKey key;
    private final AcceptedRevisions accepted;
    private final Counter failures;
    /** Verifiers by signed content digest and image name. */
    private final Map<String, ImageVerifier> verifiers = new ConcurrentHashMap<>();
    /** Verifiers by what the upstream said of the image and its manifest (ETags, lengths, locations). */
    private final com.github.benmanes.caffeine.cache.Cache<String, ImageVerifier> checkedHeads =
            com.github.benmanes.caffeine.cache.Caffeine.newBuilder().maximumSize(10_000).build();

    /** Checks against {@code branchboot.trust-key}, when it is set, manifests read from {@code upstreams}. */
    public SignedManifests(BranchbootProperties properties, UpstreamClient upstreams, MeterRegistry registry) throws IOException {
        this.upstreams = upstreams;
        this.key = properties.trustKey() == null ? null : PemKeys.publicKey(properties.trustKey());
        this.accepted = key == null ? null : AcceptedRevisions.inFile(properties.cache().dir().resolve(ACCEPTED_FILE));
        this.failures = Counter.builder("branchboot.cache.integrity.failures")
                .description("Fetched ranges whose bytes did not match the image's signed manifest (discarded, next upstream)")
                .register(registry);
        if (key != null) {
            log.info("Images must be signed by the key in {}: nothing is cached or sent before it matches their manifest",
                    properties.trustKey());
        }
    }

    /** Whether a trust key is configured. */
    public boolean enabled() {
        return key != null;
    }

    /**
     * {@code described} with the content digest its signed manifest vouches for; unchanged without
     * a trust key.
     *
     * @return a Mono failing with an {@link UpstreamException} of kind {@code INTEGRITY} when the
     *         manifest is missing, damaged, signed by another key or made for another file
     */
    public Mono<UpstreamRevision> sign(UpstreamRevision described) {
        if (key == null || isManifest(described.name())) {
            return Mono.just(described);
        }
        return Mono.fromCallable(() -> load(described, true)).subscribeOn(Schedulers.boundedElastic())
                .map(verifier -> described.withSignedContent(verifier.manifest().revision()));
    }

    /**
     * The check every fetch of {@code revision} must pass, or {@code null} without a trust key.
     * Runs off the event loop; may fetch a page of the manifest.
     */
    public UpstreamClient.BytesCheck check(UpstreamRevision revision) {
        if (key == null || isManifest(revision.name())) {
            return null;
        }
        return (first, bytes) -> {
            try {
                verifier(revision).verify(first, ByteBuffer.wrap(bytes));
                return null;
            } catch (ManifestException e) {
                failures.increment();
                return e.getMessage();
            }
        };
    }

    /** The verifier of a revision already vouched for (such as one cached before a restart). */
    ImageVerifier verifier(UpstreamRevision revision) throws IOException {
        ImageVerifier known = verifiers.get(revision.signedContent() + "\n" + revision.name());
        if (known != null) {
            return known;
        }
        // A cached older revision, kept for the clients pinned to it: no rollback check.
        ImageVerifier loaded = load(revision, false);
        if (revision.signedContent() != null && !loaded.manifest().revision().equals(revision.signedContent())) {
            throw new ManifestException(revision.name(), "the upstreams' manifest now vouches for " + loaded.manifest().revision()
                    + ", not the cached revision's " + revision.signedContent());
        }
        return loaded;
    }

    /** Whether {@code name} is a manifest's, which carries its own signature. */
    public static boolean isManifest(String name) {
        return name.endsWith(MANIFEST_SUFFIX);
    }

    /**
     * The checked manifest of {@code image}; for the {@code current} revision of its name also
     * checked against what this branch accepted for the name before (and remembered when newer).
     */
    private ImageVerifier load(UpstreamRevision image, boolean current) throws IOException {
        String manifestName = upstreams.revisionName(image) + MANIFEST_SUFFIX;
        try {
            UpstreamRevision manifest = upstreams.describe(manifestName).block(PAGE_TIMEOUT);
            // A revalidation that finds the image and its manifest unchanged reads no manifest bytes again.
            String identity = image.name() + "\n" + image.etag() + "\n" + image.size() + "\n" + image.contentLocation() + "\n"
                    + manifest.etag() + "\n" + manifest.size() + "\n" + manifest.contentLocation();
            // nginx's ETag cannot tell two manifests written in one second apart: their heads are read every time.
            boolean identifies = !manifest.etagSynthesized() && !EntityTags.secondsAndLengthOnly(manifest.etag());
            ImageVerifier known = identifies ? checkedHeads.getIfPresent(identity) : null;
            if (known != null) {
                checkName(image, known.manifest(), manifestName, current);
                return known;
            }
            ByteBuffer first = ByteBuffer.wrap(read(manifest, 0, (int) Math.min(ImageManifest.HEAD_LENGTH, manifest.size())));
            int headLength = ImageManifest.headLength(image.name(), first);
            if (headLength > manifest.size()) {
                throw new ManifestException(image.name(), "the manifest " + manifestName + " is truncated");
            }
            ImageManifest head = ImageManifest.verify(image.name(), ByteBuffer.wrap(read(manifest, 0, headLength)), key);
            if (head.imageSize() != image.size() || head.fileLength() != manifest.size()) {
                throw new ManifestException(image.name(), "the manifest " + manifestName + " describes a file of "
                        + head.imageSize() + " bytes, the upstream's has " + image.size());
            }
            checkName(image, head, manifestName, current);
            ImageVerifier verifier = new ImageVerifier(head, (offset, length) -> read(manifest, offset, length));
            verifiers.put(head.revision() + "\n" + image.name(), verifier);
            if (identifies) {
                checkedHeads.put(identity, verifier);
            }
            return verifier;
        } catch (ManifestException e) {
            failures.increment();
            throw new UpstreamException(UpstreamException.Kind.INTEGRITY, image.upstream(), e.getMessage(), e);
        } catch (UpstreamException e) {
            throw new UpstreamException(UpstreamException.Kind.INTEGRITY, e.upstream(), "image '" + image.name()
                    + "' has no readable signed manifest " + manifestName + " while branchboot.trust-key is set (every "
                    + "file a branch with a trust key serves, kernels and initramfs files too, must be signed: "
                    + "branchboot-agent manifest FILE --sign-key KEY.pem at the origin): " + e.getMessage(), e);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** The manifest must be signed for the name asked for; the current revision also must not be a rollback. */
    private void checkName(UpstreamRevision image, ImageManifest head, String manifestName, boolean current) throws IOException {
        if (current) {
            accepted.check(image.name(), head);
        } else if (!head.names(image.name())) {
            throw new ManifestException(image.name(), "the manifest " + manifestName + " is signed for image '"
                    + head.imageName() + "', not this one");
        }
    }

    private byte[] read(UpstreamRevision manifest, long offset, int length) {
        return upstreams.fetch(manifest, offset, length).block(PAGE_TIMEOUT);
    }
}
