package dev.branchboot.server.cache;

import dev.branchboot.server.upstream.UpstreamRevision;
import java.io.IOException;
import java.io.Reader;
import java.io.StringWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Properties;

/**
 * A cached revision's {@code revision.properties}: the upstream's description of it, so that a
 * restarted branch serves it with the same headers without asking anyone.
 */
final class RevisionProperties {
    static final String FILE = "revision.properties";

    private RevisionProperties() {
    }

    /** Writes {@code upstream} into {@code dir}, durably. */
    static void write(Path dir, UpstreamRevision upstream) throws IOException {
        Properties meta = new Properties();
        meta.setProperty("name", upstream.name());
        meta.setProperty("etag", upstream.etag());
        meta.setProperty("etag-synthesized", Boolean.toString(upstream.etagSynthesized()));
        meta.setProperty("size", Long.toString(upstream.size()));
        if (upstream.lastModified() != null) {
            meta.setProperty("last-modified", upstream.lastModified().toString());
        }
        if (upstream.contentLocation() != null) {
            meta.setProperty("content-location", upstream.contentLocation());
        }
        meta.setProperty("upstream", upstream.upstream().toString());
        if (upstream.signedContent() != null) {
            meta.setProperty("signed-content", upstream.signedContent());
        }
        StringWriter text = new StringWriter();
        meta.store(text, "branchboot cached image revision");
        CacheFiles.writeAtomically(dir.resolve(FILE), text.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** Reads the description in {@code dir}. */
    static UpstreamRevision read(Path dir) throws IOException {
        Path file = dir.resolve(FILE);
        Properties meta = new Properties();
        try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            meta.load(in);
        }
        String modified = meta.getProperty("last-modified");
        try {
            return new UpstreamRevision(required(meta, "name", file), required(meta, "etag", file),
                    Boolean.parseBoolean(meta.getProperty("etag-synthesized")), Long.parseLong(required(meta, "size", file)),
                    modified == null ? null : Instant.parse(modified), meta.getProperty("content-location"),
                    URI.create(required(meta, "upstream", file)), meta.getProperty("signed-content"));
        } catch (RuntimeException e) {
            throw new IOException(file + " is damaged: " + e.getMessage(), e);
        }
    }

    private static String required(Properties meta, String key, Path file) throws IOException {
        String value = meta.getProperty(key);
        if (value == null) {
            throw new IOException(file + " lacks '" + key + "'");
        }
        return value;
    }
}
