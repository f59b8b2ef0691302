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
 * @param signedContent   with a trust key: the content digest ({@code sha256:...}) that the image's
 *                        signed manifest vouches for, part of the revision's identity (two files of
 *                        one size and modification time are still two revisions); else {@code null}
 */
public record UpstreamRevision(String name, String etag, boolean etagSynthesized, long size, Instant lastModified,
        String contentLocation, URI upstream, String signedContent) {

    /** A revision described without a signed manifest. */
    public UpstreamRevision(String name, String etag, boolean etagSynthesized, long size, Instant lastModified,
            String contentLocation, URI upstream) {
        this(name, etag, etagSynthesized, size, lastModified, contentLocation, upstream, null);
    }

    /** The bytes {@code first} to {@code first + length - 1} of this revision, as failure messages name them. */
    public String describeRange(long first, long length) {
        return "range " + first + "-" + (first + length - 1) + " of image '" + name + "' revision " + etag;
    }

    /** This revision, vouched for by a signed manifest of content {@code digest}. */
    public UpstreamRevision withSignedContent(String digest) {
        return new UpstreamRevision(name, etag, etagSynthesized, size, lastModified, contentLocation, upstream, digest);
    }
}
