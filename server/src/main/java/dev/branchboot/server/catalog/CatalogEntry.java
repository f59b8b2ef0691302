package dev.branchboot.server.catalog;

/**
 * One image in the catalog.
 *
 * @param name          the name to request under /images/
 * @param size          the file's length in bytes
 * @param etag          the strong ETag responses carry, quotes included
 * @param lastModified  the modification time, ISO-8601 UTC
 * @param target        for a symlink, the revision it points to (relative to the image root); else null
 * @param format        {@code qcow2} or {@code raw}
 * @param virtualSize   the disk's size in bytes (the file's size for raw)
 * @param clusterSize   QCOW2 cluster size in bytes; null for raw
 * @param compression   QCOW2 compression type as qemu names it ({@code zlib}, {@code zstd}); null for raw
 * @param backingFile   the backing file named in the QCOW2 header, if any
 * @param backingFormat the backing file's format from the header extension, if any
 * @param qcow2Version  the QCOW2 version (2 or 3); null for raw
 * @param error         why a file with the QCOW2 magic could not be read as QCOW2; null when fine
 */
public record CatalogEntry(String name, long size, String etag, String lastModified, String target,
                           String format, Long virtualSize, Integer clusterSize, String compression,
                           String backingFile, String backingFormat, Integer qcow2Version, String error) {
}
