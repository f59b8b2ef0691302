package dev.branchboot.server.branch;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One image of the branch's catalog: the fields its upstream's catalog gave for it (or those the
 * branch knows of an image it has seen), passed through unchanged and in their order, and what the
 * branch's cache holds of it. Immutable.
 *
 * @param upstreamFields the upstream's entry ({@code name}, {@code size}, {@code etag}, ...), copied
 * @param cachedBytes    bytes of the current revision held in the cache
 * @param cachedBlocks   blocks of it held
 * @param blocks         blocks in the revision, or {@code null} when nothing is cached
 * @param blockSize      the cache's block size for it, or {@code null} when nothing is cached
 * @param cachedEtag     the revision those figures are about, or {@code null}
 * @param replication    {@code running}, {@code complete}, {@code stopped}, {@code failed},
 *                       {@code incomplete} (it completed, but the cache no longer holds all of the
 *                       current revision), or {@code null}
 */
@JsonPropertyOrder({"cachedBytes", "cachedBlocks", "blocks", "blockSize", "cachedEtag", "replication"})
public record BranchCatalogEntry(@JsonIgnore Map<String, Object> upstreamFields, long cachedBytes, long cachedBlocks, Long blocks,
                                 Integer blockSize, String cachedEtag, String replication) {

    /** This branch's own fields, which replace an upstream branch's of the same name. */
    private static final java.util.Set<String> OWN_FIELDS = java.util.Set.of("cachedBytes", "cachedBlocks", "blocks", "blockSize",
            "cachedEtag", "replication");

    /**
     * Keeps a copy of {@code upstreamFields} without this branch's own fields (an upstream that is a
     * branch itself lists its cache's), so the entry cannot change under its reader.
     */
    public BranchCatalogEntry {
        Map<String, Object> copy = new LinkedHashMap<>(upstreamFields);
        copy.keySet().removeAll(OWN_FIELDS);
        upstreamFields = Collections.unmodifiableMap(copy);
    }

    /** The image's name in the upstream's entry, or {@code null} if it had none. */
    @JsonIgnore
    public String name() {
        Object name = upstreamFields.get("name");
        return name == null ? null : name.toString();
    }

    /** The upstream's fields, written into the JSON as if they were this record's own. */
    @JsonAnyGetter
    Map<String, Object> upstream() {
        return upstreamFields;
    }
}
