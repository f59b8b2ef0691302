package dev.branchboot.server.catalog;

import java.util.List;

/**
 * The JSON body of {@code GET /images}.
 *
 * @param images every servable image, sorted by name
 */
public record Catalog(List<CatalogEntry> images) {
}
