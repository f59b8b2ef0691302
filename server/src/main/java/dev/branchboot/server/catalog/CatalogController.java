package dev.branchboot.server.catalog;

import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.config.OriginMode;
import dev.branchboot.server.http.ImageFile;
import dev.branchboot.server.images.ImageStore;
import java.util.ArrayList;
import java.util.List;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/** {@code GET /images}: the catalog of servable images as JSON. */
@OriginMode
@RestController
public class CatalogController {
    private final ImageStore store;
    private final ImageHeaders headers;
    private final int maxDepth;

    /** Lists the images of {@code store} with header facts from {@code headers}. */
    public CatalogController(ImageStore store, ImageHeaders headers, BranchbootProperties properties) {
        this.store = store;
        this.headers = headers;
        this.maxDepth = properties.catalog().maxDepth();
    }

    /** The catalog; the directory walk and header reads run on the blocking scheduler. */
    @GetMapping(path = "/images", produces = MediaType.APPLICATION_JSON_VALUE)
    public Mono<Catalog> catalog() {
        return Mono.fromCallable(this::build).subscribeOn(Schedulers.boundedElastic());
    }

    private Catalog build() {
        List<CatalogEntry> entries = new ArrayList<>();
        for (ImageFile file : store.list(maxDepth)) {
            ImageHeaders.Facts facts;
            try {
                facts = headers.of(file);
            } catch (ImageHeaders.HeaderUnreadableException e) {
                facts = new ImageHeaders.Facts(null, 0, null, null, null, null, null, e.getMessage());
            }
            entries.add(new CatalogEntry(file.name(), file.size(), file.etag(), file.lastModified().toString(),
                    file.symlinked() ? file.revision() : null, facts.format(),
                    facts.format() == null ? null : facts.virtualSize(), facts.clusterSize(), facts.compression(),
                    facts.backingFile(), facts.backingFormat(), facts.version(), facts.error()));
        }
        return new Catalog(entries);
    }
}
