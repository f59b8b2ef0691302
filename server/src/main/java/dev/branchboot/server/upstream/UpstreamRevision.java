package dev.branchboot.server.upstream;

import java.net.URI;
import java.time.Instant;

/**
 * One revision of an image as an upstream described it: the identity every branch and the origin
 * agree on (the upstream's strong ETag, passed through unchanged) and the facts a response needs.
 *
 * @param name            the image name asked for, relative to the upstream base, {@code /} separated
 * @param etag            the strong entity tag, quotes included; the upstream's own, or the nginx
 *                        formula from Last-Modified and size when the upstream gave none or a weak one
 * @param etagSynthesized true when {@code etag} was computed here, so upstreams cannot be asked
 *                        {@code If-Match} with it
 * @param size            the image's length in bytes
 * @param lastModified    the upstream's Last-Modified, or {@code null} when it sent none
 * @param contentLocation the upstream's Content-Location (the revision's own name on a branchboot
 *                        origin), passed through unchanged, or {@code null}
 * @param upstream        the base URL that described it
 */
public record UpstreamRevision(String name, String etag, boolean etagSynthesized, long size, Instant lastModified,
        String contentLocation, URI upstream) {
}
