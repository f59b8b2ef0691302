package dev.branchboot.server.branch;

import dev.branchboot.server.cache.CachedRevision;
import dev.branchboot.server.cache.CacheDirectory;
import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.replication.Replicator;
import dev.branchboot.server.upstream.UpstreamClient;
import dev.branchboot.server.util.DisplayUrl;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.reactive.function.client.WebClient;
import reactor.core.publisher.Mono;

/**
 * {@code GET /images} in branch mode. When the first HTTP upstream is a branchboot server, its
 * catalog (every field of each entry unchanged), otherwise the images this branch has seen; each
 * entry gains what the cache holds of it: {@code cachedBytes}, {@code cachedBlocks},
 * {@code blocks}, {@code blockSize}, {@code cachedEtag} (the revision those figures are about) and {@code replication}
 * ({@code running}, {@code complete}, {@code stopped}, {@code failed}, {@code incomplete} (it completed, but the
 * cache no longer holds all of the current revision), or null).
 */
@BranchMode
@RestController
public class BranchCatalogController {
    private static final Logger log = LoggerFactory.getLogger(BranchCatalogController.class);
    private static final ParameterizedTypeReference<Map<String, Object>> JSON_OBJECT = new ParameterizedTypeReference<>() {
    };

    private final CacheDirectory store;
    private final Replicator replicator;
    private final URI catalogUpstream;
    private final WebClient client;

    /**
     * Lists the images of the upstream (or those seen), with what {@code store} holds of each; asks
     * the upstream with a client from Boot's {@code WebClient.Builder}, so its codecs, timeouts and
     * metrics apply.
     */
    public BranchCatalogController(CacheDirectory store, UpstreamClient upstreams, Replicator replicator,
            WebClient.Builder clients) {
        this.client = clients.build();
        this.store = store;
        this.replicator = replicator;
        this.catalogUpstream = upstreams.upstreams().stream()
                .filter(u -> "http".equals(u.getScheme()) || "https".equals(u.getScheme())).findFirst().orElse(null);
    }

    /** The branch's catalog: the upstream whose catalog it passes on (or {@code null}) and the images. */
    public record Listing(String upstream, List<BranchCatalogEntry> images) {
    }

    /** The catalog as JSON: {@code {"upstream": ..., "images": [...]}}. */
    @GetMapping(path = "/images", produces = MediaType.APPLICATION_JSON_VALUE)
    public Mono<Listing> catalog() {
        Mono<List<Map<String, Object>>> upstreamImages = catalogUpstream == null ? Mono.empty()
                : client.get().uri(catalogUpstream).accept(MediaType.APPLICATION_JSON).retrieve()
                        .bodyToMono(JSON_OBJECT)
                        .timeout(Duration.ofSeconds(10))
                        .flatMap(body -> body.get("images") instanceof List<?> images
                                ? Mono.just(entries(images)) : Mono.empty())
                        .onErrorResume(e -> {
                            log.debug("Upstream {} has no branchboot catalog ({}); listing the images seen", DisplayUrl.of(catalogUpstream),
                                    e.toString());
                            return Mono.empty();
                        });
        return upstreamImages.map(images -> listing(catalogUpstream, images))
                .switchIfEmpty(Mono.fromSupplier(() -> listing(null, seenImages())));
    }

    private Listing listing(URI upstream, List<Map<String, Object>> images) {
        Map<String, CachedRevision> cached = currentRevisions();
        List<BranchCatalogEntry> entries = new ArrayList<>(images.size());
        for (Map<String, Object> image : images) {
            String name = String.valueOf(image.get("name"));
            CachedRevision revision = cached.get(name);
            entries.add(new BranchCatalogEntry(image, revision == null ? 0 : revision.cachedBytes(),
                    revision == null ? 0 : revision.presentBlocks(), revision == null ? null : (long) revision.blockCount(),
                    revision == null ? null : revision.blockSize(), revision == null ? null : revision.upstream().etag(),
                    replicationState(name, revision)));
        }
        return new Listing(upstream == null ? null : DisplayUrl.of(upstream), entries);
    }

    private String replicationState(String name, CachedRevision revision) {
        Replicator.Status replication = replicator.status(name);
        if (replication == null) {
            return null;
        }
        if (replication.state() == Replicator.State.COMPLETE && (revision == null || !revision.complete()
                || !revision.upstream().etag().equals(replication.etag()))) {
            // It completed once; since then the cache was evicted or the image republished.
            return "incomplete";
        }
        return replication.state().name().toLowerCase(Locale.ROOT);
    }

    /** The upstream's entries that are JSON objects, keyed by string. */
    private static List<Map<String, Object>> entries(List<?> images) {
        List<Map<String, Object>> entries = new ArrayList<>();
        for (Object image : images) {
            if (image instanceof Map<?, ?> entry) {
                Map<String, Object> fields = new LinkedHashMap<>();
                entry.forEach((key, value) -> fields.put(String.valueOf(key), value));
                entries.add(fields);
            }
        }
        return entries;
    }

    private List<Map<String, Object>> seenImages() {
        List<Map<String, Object>> images = new ArrayList<>();
        for (CachedRevision revision : currentRevisions().values()) {
            Map<String, Object> image = new LinkedHashMap<>();
            var upstream = revision.upstream();
            image.put("name", upstream.name());
            image.put("size", upstream.size());
            image.put("etag", upstream.etag());
            image.put("lastModified", upstream.lastModified() == null ? null : upstream.lastModified().toString());
            image.put("contentLocation", upstream.contentLocation());
            images.add(image);
        }
        return images;
    }

    /** Per name, the revision the name last meant (sorted by name). */
    private Map<String, CachedRevision> currentRevisions() {
        Map<String, CachedRevision> current = new TreeMap<>();
        for (CachedRevision revision : store.revisions()) {
            String name = revision.upstream().name();
            store.lastKnown(name).ifPresent(known -> current.put(name, known));
        }
        return current;
    }
}
