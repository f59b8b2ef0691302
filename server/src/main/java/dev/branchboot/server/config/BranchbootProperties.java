package dev.branchboot.server.config;

import dev.branchboot.integrity.ImageManifest;
import dev.branchboot.integrity.PemKeys;
import dev.branchboot.server.util.DisplayUrl;
import jakarta.validation.Valid;
import jakarta.validation.constraints.AssertTrue;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.NestedConfigurationProperty;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.scheduling.support.CronExpression;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.Errors;
import org.springframework.validation.Validator;
import org.springframework.validation.annotation.Validated;

/**
 * Every setting of the image server, bound once from {@code branchboot.*} through this record's
 * constructor (so no part of the server can change a setting after start-up) and validated at
 * start-up, so that a bad value stops the server with a message naming the property instead of
 * failing on the first request. An unknown {@code branchboot.*} key stops it too, naming the
 * closest known one ({@link UnknownSettingFailureAnalyzer}): a misspelt setting must not quietly
 * leave its default in force, such as a cache in the working directory. Checks whose message must
 * name a configured key (boot profiles, machines) run as this record's own {@link Validator}, which
 * Spring Boot applies to a {@code @ConfigurationProperties} object that implements it.
 *
 * @param imagesDir             Directory whose files are served under /images. May be an NFS mount.
 *                              Symlinks inside it are followed only while they stay inside it.
 *                              Origin mode only: setting it together with upstreams is a start-up
 *                              error. Unset: "images" in the working directory.
 * @param upstreams             Base URLs of image folders to fill the branch cache from, tried in
 *                              order: image NAME is fetched from BASE/NAME with range requests.
 *                              Setting any turns the server into a branch cache.
 * @param adminToken            Bearer token of the /admin endpoints (branch mode). Without one the
 *                              endpoints do not exist. Give it through the environment
 *                              (BRANCHBOOT_ADMINTOKEN) rather than the command line.
 * @param trustKey              Ed25519 public key (PEM, openssl pkey -pubout) of the images'
 *                              publisher (branch mode). With it, every image must have a manifest
 *                              signed by that key (branchboot-agent manifest), and no byte is cached
 *                              or sent before it matches.
 * @param replication           Background replication of whole images (branch mode).
 * @param cache                 The branch cache (used only when upstreams are set).
 * @param maxRanges             Most ranges one Range header may ask for; a request with more gets
 *                              416, even if its ranges would coalesce. Bounds the work one request
 *                              can cause.
 * @param multipartBufferSize   Size of the buffers that multipart/byteranges responses are read
 *                              into. Single ranges and whole files are sent zero-copy and do not
 *                              use it.
 * @param requestHeadersTimeout How long a client may take from a request's first byte to the end of
 *                              its headers before the connection is closed (slow-loris clients).
 *                              Idle keep-alive connections are bounded by server.netty.idle-timeout
 *                              instead.
 * @param catalog               The catalog served at GET /images.
 * @param boot                  Network boot: the iPXE scripts served at /boot, their profiles and
 *                              the machines' choice.
 */
@Validated
@ConfigurationProperties(prefix = "branchboot", ignoreUnknownFields = false)
public record BranchbootProperties(
        @ExistingDirectory Path imagesDir,
        @DefaultValue List<URI> upstreams,
        String adminToken,
        Path trustKey,
        @Valid @DefaultValue Replication replication,
        @Valid @DefaultValue Cache cache,
        @Min(1) @Max(10_000) @DefaultValue("100") int maxRanges,
        @NotNull @DataSizeRange(min = 4 * 1024, max = 16 * 1024 * 1024) @DefaultValue("64KB") DataSize multipartBufferSize,
        @NotNull @DefaultValue("20s") Duration requestHeadersTimeout,
        @Valid @DefaultValue Catalog catalog,
        @NestedConfigurationProperty @DefaultValue BootSettings boot) implements Validator {

    /** Copies the lists, so that the settings stay as bound. */
    public BranchbootProperties {
        upstreams = upstreams == null ? List.of() : List.copyOf(upstreams);
    }

    /** The images directory of origin mode: as set, or {@code images} in the working directory. */
    public Path imagesFolder() {
        return imagesDir != null ? imagesDir : Path.of("images");
    }

    /** True when upstreams are configured: the server is a branch cache instead of an origin. */
    public boolean isBranchMode() {
        return !upstreams.isEmpty();
    }

    /** Refuses the ambiguous configuration of serving a local directory and a cache of upstreams at once. */
    @AssertTrue(message = "branchboot.images-dir and branchboot.upstreams cannot both be set: images-dir makes an "
            + "origin serving a local folder, upstreams make a branch cache filled from other servers; remove one")
    public boolean isOneMode() {
        return !(imagesDir != null && isBranchMode());
    }

    /** Every upstream must be an absolute http, https or file URL. */
    @AssertTrue(message = "branchboot.upstreams must be absolute http://, https:// or file: URLs of image folders, "
            + "such as http://origin:8080/images or file:/mnt/nfs/images")
    public boolean isUpstreamsValid() {
        for (URI upstream : upstreams) {
            String scheme = upstream.getScheme();
            if (scheme == null || !(scheme.equals("http") || scheme.equals("https") || scheme.equals("file"))) {
                return false;
            }
        }
        return true;
    }

    /** An admin token, when set, must be long enough not to be guessed. */
    @AssertTrue(message = "branchboot.admin-token must be at least 16 characters (or unset, which removes /admin)")
    public boolean isAdminTokenStrong() {
        return adminToken == null || adminToken.isEmpty() || adminToken.length() >= 16;
    }

    @Override
    public boolean supports(Class<?> type) {
        return BranchbootProperties.class.isAssignableFrom(type);
    }

    /** The checks that name configured keys or values in their messages (the boot settings', the upstreams'). */
    @Override
    public void validate(Object target, Errors errors) {
        BranchbootProperties properties = (BranchbootProperties) target;
        properties.boot.validate(errors);
        for (URI upstream : properties.upstreams) {
            String problem = upstreamProblem(upstream);
            if (problem != null) {
                // Shown without its secret parts: this report goes to logs and consoles.
                errors.reject("branchboot.upstreams", "branchboot.upstreams: the upstream " + DisplayUrl.of(upstream) + " "
                        + problem);
            }
        }
        Duration headers = properties.requestHeadersTimeout;
        if (headers != null && (headers.isNegative() || headers.toMillis() < 100)) {
            errors.rejectValue("requestHeadersTimeout", "range", "must be at least 100ms (was " + headers + ")");
        }
        if (properties.trustKey != null) {
            String problem = trustKeyProblem(properties.trustKey);
            if (problem != null) {
                errors.rejectValue("trustKey", "trustKey", "branchboot.trust-key: " + problem);
            }
            DataSize block = properties.cache.blockSize();
            if (block != null && block.toBytes() < ImageManifest.BLOCK_SIZE) {
                errors.rejectValue("cache.blockSize", "range", "branchboot.cache.block-size must be at least 4KB with "
                        + "branchboot.trust-key: manifests check 4 KiB blocks (was " + block + ")");
            }
        }
        if (properties.isBranchMode() && properties.cache.dir() != null) {
            String problem = cacheDirProblem(properties.cache.dir());
            if (problem != null) {
                errors.rejectValue("cache.dir", "cacheDir", "branchboot.cache.dir: " + problem);
            }
        }
        properties.cache.validate(errors);
        notNegative(errors, "replication.rate", properties.replication.rate());
    }

    /**
     * Why {@code key} cannot be the publisher's public key, or {@code null} when it is one: each
     * mistake an operator makes (a missing file, a folder, the private key, a binary file) named as
     * such, instead of a trace from the branch's first use of the key.
     */
    private static String trustKeyProblem(Path key) {
        Path absolute = key.toAbsolutePath();
        if (!Files.exists(absolute)) {
            return "'" + absolute + "' does not exist; give the publisher's public key, made with "
                    + "openssl pkey -in publisher.pem -pubout -out trust.pem";
        }
        if (!Files.isRegularFile(absolute)) {
            return "'" + absolute + "' is not a file; give the publisher's public key (a PEM file)";
        }
        if (!Files.isReadable(absolute)) {
            return "'" + absolute + "' is not readable by this process";
        }
        try {
            PemKeys.publicKey(absolute);
            return null;
        } catch (IOException e) {
            if (holdsPrivateKey(absolute)) {
                return "'" + absolute + "' holds a private key: a branch needs only the publisher's public key (openssl "
                        + "pkey -in publisher.pem -pubout -out trust.pem), and the private key belongs only where images are "
                        + "signed";
            }
            // PemKeys names the file and what is wrong with it.
            return e.getMessage() + "; give the publisher's public key, made with openssl pkey -in publisher.pem -pubout "
                    + "-out trust.pem";
        }
    }

    private static boolean holdsPrivateKey(Path file) {
        try {
            String text = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
            return text.contains("-----BEGIN PRIVATE KEY-----") || text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Why the branch cache cannot live in {@code dir}, or {@code null} when it can: a directory this
     * process can write, or a path it can create one at.
     */
    private static String cacheDirProblem(Path dir) {
        Path absolute = dir.toAbsolutePath();
        if (Files.exists(absolute)) {
            if (!Files.isDirectory(absolute)) {
                return "'" + absolute + "' is not a directory";
            }
            return Files.isWritable(absolute) && Files.isExecutable(absolute) ? null
                    : "'" + absolute + "' is not writable by this process";
        }
        Path existing = absolute.getParent();
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return null;
        }
        if (!Files.isDirectory(existing)) {
            return "'" + absolute + "' cannot be created: '" + existing + "' is not a directory";
        }
        return Files.isWritable(existing) && Files.isExecutable(existing) ? null
                : "'" + absolute + "' cannot be created: '" + existing + "' is not writable by this process";
    }

    /**
     * Rejects a negative {@code value} of the setting {@code branchboot.<setting>} ({@code setting}
     * as an operator writes it, such as {@code cache.scrub-rate}).
     */
    private static void notNegative(Errors errors, String setting, Object value) {
        boolean negative = value instanceof DataSize size ? size.isNegative() : value instanceof Duration duration && duration.isNegative();
        if (negative) {
            reject(errors, setting, "must not be negative (was " + value + ")");
        }
    }

    /**
     * A field error of {@code branchboot.<setting>}, whose message names the setting as written:
     * Spring's report names a nested record's field by its Java name ({@code cache.scrubRate}).
     */
    private static void reject(Errors errors, String setting, String problem) {
        StringBuilder field = new StringBuilder();
        for (int i = 0; i < setting.length(); i++) {
            char c = setting.charAt(i);
            field.append(c == '-' ? Character.toUpperCase(setting.charAt(++i)) : c);
        }
        errors.rejectValue(field.toString(), "range", "branchboot." + setting + " " + problem);
    }

    /**
     * What is wrong with an upstream beyond its scheme ({@link #isUpstreamsValid()}), or {@code null}.
     * A user name, password, query or fragment is refused: the upstream's URL is shown to anyone in
     * GET /images and in the metrics' tags, and such parts would not even work, since the upstream
     * client sends neither credentials nor a query of the base URL.
     */
    private static String upstreamProblem(URI upstream) {
        if (DisplayUrl.carriesSecrets(upstream)) {
            return "(shown without them) carries a user name or password, a query or a fragment, such as user:password@ "
                    + "or ?token=: they would be shown to anyone in GET /images and the metrics, and are not sent as "
                    + "credentials; give the image folder's plain URL, and let the origin admit branches by address or "
                    + "through a proxy";
        }
        boolean http = "http".equals(upstream.getScheme()) || "https".equals(upstream.getScheme());
        if (http && (upstream.isOpaque() || upstream.getHost() == null)) {
            return "names no host: write it as http://HOST[:PORT]/PATH";
        }
        return null;
    }

    /**
     * Settings of background replication.
     *
     * @param images      Images kept replicated whole: replicated at start-up (resuming) and on the
     *                    schedule.
     * @param schedule    Cron expression (Spring's six fields, such as "0 0 6 * * *" for 6:00 daily)
     *                    re-checking the images list; empty for none.
     * @param rate        Upstream bytes per second one replication may pull, so the uplink stays
     *                    usable; 0 means unlimited.
     * @param onFirstRead Whether the first read of an image starts replicating the rest of it.
     */
    public record Replication(
            @DefaultValue List<String> images,
            @DefaultValue("") String schedule,
            @NotNull @DefaultValue("10MB") DataSize rate,
            @DefaultValue("false") boolean onFirstRead) {

        /** Copies the list and reads a missing schedule as none. */
        public Replication {
            images = images == null ? List.of() : List.copyOf(images);
            schedule = schedule == null ? "" : schedule;
        }

        /** The schedule must be a valid cron expression when set. */
        @AssertTrue(message = "branchboot.replication.schedule must be a cron expression of six fields, such as '0 0 6 * * *'")
        public boolean isScheduleValid() {
            return schedule.isBlank() || CronExpression.isValidExpression(schedule);
        }
    }

    /**
     * Settings of the catalog listing.
     *
     * @param maxDepth           How many sub-folder levels below images-dir the catalog lists (1 lists
     *                           only the top level).
     * @param headerCacheEntries Most image headers remembered, keyed by file and ETag, so a listing
     *                           does not re-read them.
     */
    public record Catalog(
            @Min(1) @Max(64) @DefaultValue("8") int maxDepth,
            @Min(0) @Max(1_000_000) @DefaultValue("10000") int headerCacheEntries) {
    }

    /**
     * Settings of the branch cache.
     *
     * @param dir                Directory holding cached image revisions (data, presence bitmap,
     *                           checksums); created if missing.
     * @param blockSize          Unit of presence, checksums and fetch alignment: what a client reads
     *                           is fetched rounded out to whole blocks. A power of two from 512B to
     *                           64KB. Smaller pulls fewer bytes a client did not ask for; larger
     *                           keeps less bookkeeping (docs/benchmarks.md has the measurements).
     * @param fetchSize          The largest single upstream fetch. A long read or a replication
     *                           streams in fetches of this size (read-ahead of them in flight at
     *                           once); a short read fetches only its missing blocks. A multiple of
     *                           the block size, from 64KB to 64MB. 1MB: a cold sequential fill ran
     *                           at 225 MB/s against 166 MB/s with 4MB pieces, which reach the client
     *                           only once whole (docs/benchmarks.md).
     * @param revalidateInterval How long an upstream's ETag for a name is trusted before it is asked
     *                           again (HEAD).
     * @param fetchAttempts      Attempts per upstream fetch across all upstreams before a request
     *                           fails.
     * @param retryBackoff       Pause before the first retry of a failed fetch; doubled on each
     *                           further retry.
     * @param upstreamTimeout    Longest wait for an upstream's response headers or its next body
     *                           bytes.
     * @param readAhead          Upstream fetches (of up to fetch-size each) one response keeps in
     *                           flight ahead of what it is sending.
     * @param quota              Disk space the cache may use for image bytes; over it, whole
     *                           revisions are evicted, least recently used first, never one being
     *                           read or replicated. 0 means no quota.
     * @param scrubInterval      How often every cached block is re-read and checked against its
     *                           checksum; 0 turns the scrub off.
     * @param scrubRate          Bytes per second the background scrub reads, so it never competes
     *                           with serving; 0 is unlimited.
     * @param eventLoopHits      Whether a single range (up to 2 MiB) whose blocks are all cached is
     *                           answered on the connection's event loop, outside WebFlux (a quarter of
     *                           the CPU per request; docs/benchmarks.md "CPU per served boot"), as
     *                           nginx reads files on its event loop; false sends every request
     *                           through WebFlux.
     */
    public record Cache(
            @NotNull @DefaultValue("cache") Path dir,
            @NotNull @DataSizeRange(min = 512, max = 64 * 1024) @DefaultValue("4KB") DataSize blockSize,
            @NotNull @DataSizeRange(min = 64 * 1024, max = 64 * 1024 * 1024) @DefaultValue("1MB") DataSize fetchSize,
            @NotNull @DefaultValue("10s") Duration revalidateInterval,
            @Min(1) @Max(100) @DefaultValue("4") int fetchAttempts,
            @NotNull @DefaultValue("100ms") Duration retryBackoff,
            @NotNull @DefaultValue("30s") Duration upstreamTimeout,
            @Min(1) @Max(64) @DefaultValue("4") int readAhead,
            @NotNull @DefaultValue("0B") DataSize quota,
            @NotNull @DefaultValue("24h") Duration scrubInterval,
            @NotNull @DefaultValue("20MB") DataSize scrubRate,
            @DefaultValue("true") boolean eventLoopHits) {

        /**
         * The checks whose messages name a value (Spring's field errors name the property): no
         * negative durations or rates, and an upstream timeout above zero.
         */
        void validate(Errors errors) {
            notNegative(errors, "cache.revalidate-interval", revalidateInterval);
            notNegative(errors, "cache.retry-backoff", retryBackoff);
            notNegative(errors, "cache.scrub-interval", scrubInterval);
            notNegative(errors, "cache.quota", quota);
            notNegative(errors, "cache.scrub-rate", scrubRate);
            if (upstreamTimeout != null && (upstreamTimeout.isNegative() || upstreamTimeout.isZero())) {
                reject(errors, "cache.upstream-timeout", "must be more than 0 (was " + upstreamTimeout + ")");
            }
        }

        /** The block size must be a power of two and divide the fetch size. */
        @AssertTrue(message = "branchboot.cache.block-size must be a power of two (512B, 1KB, ... 64KB) that divides "
                + "branchboot.cache.fetch-size")
        public boolean isBlockSizeValid() {
            if (blockSize == null || fetchSize == null) {
                return true;
            }
            long block = blockSize.toBytes();
            return block > 0 && Long.bitCount(block) == 1 && fetchSize.toBytes() % block == 0;
        }
    }
}
