package dev.branchboot.server.admin;

import dev.branchboot.server.cache.CachedRevision;
import dev.branchboot.server.cache.CacheDirectory;
import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.images.ImageNameException;
import dev.branchboot.server.images.ImageNotFoundException;
import dev.branchboot.server.images.ImageStore;
import dev.branchboot.server.replication.Replicator;
import dev.branchboot.server.util.RateLimitedLog;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * The branch cache's admin endpoints, refused (401) without {@code Authorization: Bearer TOKEN}
 * and absent (404) when no {@code branchboot.admin-token} is configured:
 * {@code POST /admin/images/{name}/replicate} starts replicating an image (202),
 * {@code DELETE /admin/images/{name}/replicate} stops it (204), and
 * {@code DELETE /admin/images/{name}/cache} evicts every cached revision of it (204; 409 while one
 * is being read or replicated).
 */
@BranchMode
@RestController
public class AdminController {
    private static final Logger log = LoggerFactory.getLogger(AdminController.class);
    private static final String PREFIX = "/admin/images/";
    /** Refused requests: a guessing client makes hundreds a second, and each would be a line. */
    private final RateLimitedLog refusals = RateLimitedLog.every10Seconds(log);

    private final byte[] token;
    private final CacheDirectory store;
    private final Replicator replicator;

    /** Admin over {@code store} and {@code replicator}, guarded by the configured token. */
    public AdminController(BranchbootProperties properties, CacheDirectory store, Replicator replicator) {
        String configured = properties.adminToken();
        this.token = configured == null || configured.isBlank() ? null : configured.getBytes(StandardCharsets.UTF_8);
        this.store = store;
        this.replicator = replicator;
    }

    /** Starts replicating an image. */
    @PostMapping("/admin/images/**")
    public Mono<ResponseEntity<ProblemDetail>> post(ServerWebExchange exchange) {
        return handle(exchange);
    }

    /** Stops a replication or evicts an image. */
    @DeleteMapping("/admin/images/**")
    public Mono<ResponseEntity<ProblemDetail>> delete(ServerWebExchange exchange) {
        return handle(exchange);
    }

    /** An RFC 9457 problem answer, written by Spring's codecs (these endpoints are not on the hot path). */
    private static Mono<ResponseEntity<ProblemDetail>> problem(HttpStatus status, String detail) {
        return Mono.just(ResponseEntity.of(ProblemDetail.forStatusAndDetail(status, detail)).build());
    }

    /**
     * The token of an {@code Authorization: Bearer TOKEN} header, or no bytes. The scheme is matched
     * in any case ({@code bearer}, {@code BEARER}), as RFC 9110 section 11.1 makes auth schemes
     * case-insensitive; then exactly one space and the token, nothing after it.
     */
    private static byte[] bearerToken(String authorization) {
        String scheme = "Bearer ";
        if (authorization == null || !authorization.regionMatches(true, 0, scheme, 0, scheme.length())) {
            return new byte[0];
        }
        return authorization.substring(scheme.length()).getBytes(StandardCharsets.UTF_8);
    }

    private static Mono<ResponseEntity<ProblemDetail>> done(HttpStatus status) {
        return Mono.just(ResponseEntity.status(status).build());
    }

    private Mono<ResponseEntity<ProblemDetail>> handle(ServerWebExchange exchange) {
        if (token == null) {
            return problem(HttpStatus.NOT_FOUND, "no admin endpoints: branchboot.admin-token is not set");
        }
        byte[] offered = bearerToken(exchange.getRequest().getHeaders().getFirst(HttpHeaders.AUTHORIZATION));
        // Constant-time: the time taken depends on the configured token's length only, never on how much
        // of a guess was right.
        if (!MessageDigest.isEqual(token, offered)) {
            refusals.warn("Refused admin request {} {} from {}: missing or wrong bearer token", exchange.getRequest().getMethod(),
                    exchange.getRequest().getPath(), exchange.getRequest().getRemoteAddress());
            return Mono.just(ResponseEntity.of(ProblemDetail.forStatusAndDetail(HttpStatus.UNAUTHORIZED,
                    "a valid bearer token is required")).header(HttpHeaders.WWW_AUTHENTICATE, "Bearer").build());
        }
        String path = exchange.getRequest().getPath().pathWithinApplication().value().substring(PREFIX.length());
        HttpMethod method = exchange.getRequest().getMethod();
        String action;
        String encodedName;
        if (path.endsWith("/replicate")) {
            action = "replicate";
            encodedName = path.substring(0, path.length() - "/replicate".length());
        } else if (path.endsWith("/cache") && method == HttpMethod.DELETE) {
            action = "cache";
            encodedName = path.substring(0, path.length() - "/cache".length());
        } else {
            return problem(HttpStatus.NOT_FOUND, "no such admin endpoint");
        }
        String name;
        try {
            name = ImageStore.decodeName(encodedName);
        } catch (ImageNameException | ImageNotFoundException e) {
            return problem(HttpStatus.BAD_REQUEST, e.getMessage());
        }
        if (action.equals("replicate") && method == HttpMethod.POST) {
            boolean started = replicator.start(name, "the admin endpoint");
            return done(started ? HttpStatus.ACCEPTED : HttpStatus.OK);
        }
        if (action.equals("replicate")) {
            if (!replicator.stop(name)) {
                return problem(HttpStatus.NOT_FOUND, "image '" + name + "' is not being replicated");
            }
            return done(HttpStatus.NO_CONTENT);
        }
        return Mono.fromCallable(() -> evict(name)).subscribeOn(Schedulers.boundedElastic()).flatMap(status -> {
            if (status == HttpStatus.NO_CONTENT) {
                return done(status);
            }
            return problem(status, status == HttpStatus.NOT_FOUND
                    ? "image '" + name + "' is not cached"
                    : "image '" + name + "' is being read or replicated; stop its replication or try again later");
        });
    }

    private HttpStatus evict(String name) {
        List<CachedRevision> revisions = store.revisionsOf(name);
        if (revisions.isEmpty()) {
            return HttpStatus.NOT_FOUND;
        }
        boolean all = true;
        for (CachedRevision revision : revisions) {
            all &= store.evict(revision, "the admin endpoint");
        }
        return all ? HttpStatus.NO_CONTENT : HttpStatus.CONFLICT;
    }
}
