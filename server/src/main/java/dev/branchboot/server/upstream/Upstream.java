package dev.branchboot.server.upstream;

import java.net.URI;
import reactor.core.publisher.Mono;

/**
 * One upstream the branch fills from: an HTTP server's images folder ({@link HttpUpstream}) or a
 * local folder ({@link FileUpstream}). Each call is one attempt at this upstream; failover between
 * upstreams, retries, checks of the bytes and metrics are {@link UpstreamClient}'s. Failures are
 * {@link UpstreamException}s (or, for an HTTP upstream, the transport's exceptions, which the
 * client classifies).
 */
interface Upstream {
    /** The upstream's base URL, as configured. */
    URI uri();

    /** The current revision of image {@code name}. */
    Mono<UpstreamRevision> describe(String name);

    /** Exactly {@code length} bytes of {@code revision} from offset {@code first}, or an error. */
    Mono<byte[]> fetch(UpstreamRevision revision, long first, int length);

    /** The name of {@code revision}'s own file relative to the upstream folder. */
    default String revisionName(UpstreamRevision revision) {
        return revision.name();
    }

    /** The upstream for {@code uri}: a folder for {@code file:}, an HTTP server otherwise. */
    static Upstream of(URI uri, reactor.netty.http.client.HttpClient http) {
        return "file".equals(uri.getScheme()) ? new FileUpstream(uri) : new HttpUpstream(uri, http);
    }
}
