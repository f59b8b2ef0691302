package dev.branchboot.server.config;

import jakarta.validation.Valid;
import jakarta.validation.constraints.AssertTrue;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.NestedConfigurationProperty;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.Errors;
import org.springframework.validation.Validator;
import org.springframework.validation.annotation.Validated;

/**
 * Every setting of the image server, bound from {@code branchboot.*} and validated at start-up so
 * that a bad value stops the server with a message naming the property, instead of failing on the
 * first request. An unknown {@code branchboot.*} key stops it too, naming the closest known one
 * ({@link UnknownSettingFailureAnalyzer}): a misspelt setting must not quietly leave its default in
 * force, such as a cache in the working directory. Checks whose message must name a configured key
 * (boot profiles, machines) run as this class's own {@link Validator}, which Spring Boot applies to
 * a {@code @ConfigurationProperties} object that implements it.
 */
@Validated
@ConfigurationProperties(prefix = "branchboot", ignoreUnknownFields = false)
public class BranchbootProperties implements Validator {

    /**
     * Directory whose files are served under /images. May be an NFS mount. Symlinks inside it are
     * followed only while they stay inside it. Origin mode only: setting it together with
     * upstreams is a start-up error.
     */
    @ExistingDirectory
    private Path imagesDir;

    /**
     * Base URLs of image folders to fill the branch cache from, tried in order: image NAME is
     * fetched from BASE/NAME with range requests. Setting any turns the server into a branch cache.
     */
    private List<URI> upstreams = new ArrayList<>();

    /**
     * Bearer token of the /admin endpoints (branch mode). Without one the endpoints do not exist.
     * Give it through the environment (BRANCHBOOT_ADMINTOKEN) rather than the command line.
     */
    private String adminToken;

    /**
     * Ed25519 public key (PEM, {@code openssl pkey -pubout}) of the images' publisher (branch
     * mode). With it, every image must have a manifest signed by that key
     * ({@code branchboot-agent manifest}), and no byte is cached or sent before it matches.
     */
    private Path trustKey;

    /** Background replication of whole images (branch mode). */
    @Valid
    private final Replication replication = new Replication();

    /** The branch cache (used only when upstreams are set). */
    @Valid
    private final Cache cache = new Cache();

    /**
     * Most ranges one Range header may ask for; a request with more gets 416, even if its ranges
     * would coalesce. Bounds the work one request can cause.
     */
    @Min(1)
    @Max(10_000)
    private int maxRanges = 100;

    /**
     * Size of the buffers that multipart/byteranges responses are read into. Single ranges and whole
     * files are sent zero-copy and do not use it.
     */
    @NotNull
    @DataSizeRange(min = 4 * 1024, max = 16 * 1024 * 1024)
    private DataSize multipartBufferSize = DataSize.ofKilobytes(64);

    /**
     * How long a client may take from a request's first byte to the end of its headers before the
     * connection is closed (slow-loris clients). Idle keep-alive connections are bounded by
     * {@code server.netty.idle-timeout} instead.
     */
    @NotNull
    private Duration requestHeadersTimeout = Duration.ofSeconds(20);

    /** The catalog served at GET /images. */
    @Valid
    private final Catalog catalog = new Catalog();

    /** Network boot: the iPXE scripts served at /boot, their profiles and the machines' choice. */
    @NestedConfigurationProperty
    private final BootSettings boot = new BootSettings();

    /** The images directory of origin mode: as set, or {@code images} in the working directory. */
    public Path getImagesDir() {
        return imagesDir != null ? imagesDir : Path.of("images");
    }

    public void setImagesDir(Path imagesDir) {
        this.imagesDir = imagesDir;
    }

    public Path getTrustKey() {
        return trustKey;
    }

    public void setTrustKey(Path trustKey) {
        this.trustKey = trustKey;
    }

    /** A trust key must be a readable file; manifests check 4 KiB blocks, so cached blocks are at least that. */
    @AssertTrue(message = "branchboot.trust-key must name a readable file, and with it branchboot.cache.block-size must be "
            + "at least 4KB (manifests check 4 KiB blocks)")
    public boolean isTrustKeyValid() {
        if (trustKey == null) {
            return true;
        }
        return java.nio.file.Files.isReadable(trustKey) && (cache.getBlockSize() == null || cache.getBlockSize().toBytes() >= 4096);
    }

    public List<URI> getUpstreams() {
        return upstreams;
    }

    public void setUpstreams(List<URI> upstreams) {
        this.upstreams = upstreams;
    }

    /** True when upstreams are configured: the server is a branch cache instead of an origin. */
    public boolean isBranchMode() {
        return upstreams != null && !upstreams.isEmpty();
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
        if (upstreams == null) {
            return true;
        }
        for (URI upstream : upstreams) {
            String scheme = upstream.getScheme();
            if (scheme == null || !(scheme.equals("http") || scheme.equals("https") || scheme.equals("file"))) {
                return false;
            }
        }
        return true;
    }

    public Cache getCache() {
        return cache;
    }

    public String getAdminToken() {
        return adminToken;
    }

    public void setAdminToken(String adminToken) {
        this.adminToken = adminToken;
    }

    /** An admin token, when set, must be long enough not to be guessed. */
    @AssertTrue(message = "branchboot.admin-token must be at least 16 characters (or unset, which removes /admin)")
    public boolean isAdminTokenStrong() {
        return adminToken == null || adminToken.isEmpty() || adminToken.length() >= 16;
    }

    public Replication getReplication() {
        return replication;
    }

    /** Settings of background replication. */
    public static class Replication {
        /** Images kept replicated whole: replicated at start-up (resuming) and on the schedule. */
        private List<String> images = new ArrayList<>();

        /** Cron expression (Spring's six fields, such as "0 0 6 * * *" for 6:00 daily) re-checking the images list; empty for none. */
        private String schedule = "";

        /** Upstream bytes per second one replication may pull, so the uplink stays usable; 0 means unlimited. */
        @NotNull
        private DataSize rate = DataSize.ofMegabytes(10);

        /** Whether the first read of an image starts replicating the rest of it. */
        private boolean onFirstRead;

        public List<String> getImages() {
            return images;
        }

        public void setImages(List<String> images) {
            this.images = images;
        }

        public String getSchedule() {
            return schedule;
        }

        public void setSchedule(String schedule) {
            this.schedule = schedule;
        }

        /** The schedule must be a valid cron expression when set. */
        @AssertTrue(message = "branchboot.replication.schedule must be a cron expression of six fields, such as '0 0 6 * * *'")
        public boolean isScheduleValid() {
            return schedule == null || schedule.isBlank() || org.springframework.scheduling.support.CronExpression.isValidExpression(schedule);
        }

        public DataSize getRate() {
            return rate;
        }

        public void setRate(DataSize rate) {
            this.rate = rate;
        }

        public boolean isOnFirstRead() {
            return onFirstRead;
        }

        public void setOnFirstRead(boolean onFirstRead) {
            this.onFirstRead = onFirstRead;
        }
    }

    public int getMaxRanges() {
        return maxRanges;
    }

    public void setMaxRanges(int maxRanges) {
        this.maxRanges = maxRanges;
    }

    public DataSize getMultipartBufferSize() {
        return multipartBufferSize;
    }

    public void setMultipartBufferSize(DataSize multipartBufferSize) {
        this.multipartBufferSize = multipartBufferSize;
    }

    public Duration getRequestHeadersTimeout() {
        return requestHeadersTimeout;
    }

    public void setRequestHeadersTimeout(Duration requestHeadersTimeout) {
        this.requestHeadersTimeout = requestHeadersTimeout;
    }

    public Catalog getCatalog() {
        return catalog;
    }

    public BootSettings getBoot() {
        return boot;
    }

    @Override
    public boolean supports(Class<?> type) {
        return BranchbootProperties.class.isAssignableFrom(type);
    }

    /** The checks that name configured keys in their messages (the boot settings'). */
    @Override
    public void validate(Object target, Errors errors) {
        BranchbootProperties properties = (BranchbootProperties) target;
        properties.boot.validate(errors);
        Duration headers = properties.requestHeadersTimeout;
        if (headers != null && (headers.isNegative() || headers.toMillis() < 100)) {
            errors.rejectValue("requestHeadersTimeout", "range", "must be at least 100ms (was " + headers + ")");
        }
    }

    /** Settings of the catalog listing. */
    public static class Catalog {
        /** How many sub-folder levels below images-dir the catalog lists (1 lists only the top level). */
        @Min(1)
        @Max(64)
        private int maxDepth = 8;

        /** Most image headers remembered, keyed by file and ETag, so a listing does not re-read them. */
        @Min(0)
        @Max(1_000_000)
        private int headerCacheEntries = 10_000;

        public int getMaxDepth() {
            return maxDepth;
        }

        public void setMaxDepth(int maxDepth) {
            this.maxDepth = maxDepth;
        }

        public int getHeaderCacheEntries() {
            return headerCacheEntries;
        }

        public void setHeaderCacheEntries(int headerCacheEntries) {
            this.headerCacheEntries = headerCacheEntries;
        }
    }

    /** Settings of the branch cache. */
    public static class Cache {
        /** Directory holding cached image revisions (data, presence bitmap, checksums); created if missing. */
        @NotNull
        private Path dir = Path.of("cache");

        /**
         * Unit of presence, checksums and fetch alignment: what a client reads is fetched rounded out
         * to whole blocks. A power of two from 512B to 64KB. Smaller pulls fewer bytes a client did
         * not ask for; larger keeps less bookkeeping (docs/benchmarks.md has the measurements).
         */
        @NotNull
        @DataSizeRange(min = 512, max = 64 * 1024)
        private DataSize blockSize = DataSize.ofKilobytes(4);

        /**
         * The largest single upstream fetch. A long read or a replication streams in fetches of this
         * size (read-ahead of them in flight at once); a short read fetches only its missing blocks.
         * A multiple of the block size, from 64KB to 64MB. 1MB: a cold sequential fill ran at 225 MB/s
         * against 166 MB/s with 4MB pieces, which reach the client only once whole (docs/benchmarks.md).
         */
        @NotNull
        @DataSizeRange(min = 64 * 1024, max = 64 * 1024 * 1024)
        private DataSize fetchSize = DataSize.ofMegabytes(1);

        /** How long an upstream's ETag for a name is trusted before it is asked again (HEAD). */
        @NotNull
        private Duration revalidateInterval = Duration.ofSeconds(10);

        /** Attempts per upstream fetch across all upstreams before a request fails. */
        @Min(1)
        @Max(100)
        private int fetchAttempts = 4;

        /** Pause before the first retry of a failed fetch; doubled on each further retry. */
        @NotNull
        private Duration retryBackoff = Duration.ofMillis(100);

        /** Longest wait for an upstream's response headers or its next body bytes. */
        @NotNull
        private Duration upstreamTimeout = Duration.ofSeconds(30);

        /** Upstream fetches (of up to fetch-size each) one response keeps in flight ahead of what it is sending. */
        @Min(1)
        @Max(64)
        private int readAhead = 4;

        /**
         * Disk space the cache may use for image bytes; over it, whole revisions are evicted, least
         * recently used first, never one being read or replicated. 0 means no quota.
         */
        @NotNull
        private DataSize quota = DataSize.ofBytes(0);

        /** How often every cached block is re-read and checked against its checksum; 0 turns the scrub off. */
        @NotNull
        private Duration scrubInterval = Duration.ofHours(24);

        /** Bytes per second the background scrub reads, so it never competes with serving; 0 is unlimited. */
        @NotNull
        private DataSize scrubRate = DataSize.ofMegabytes(20);

        public Path getDir() {
            return dir;
        }

        public void setDir(Path dir) {
            this.dir = dir;
        }

        public DataSize getBlockSize() {
            return blockSize;
        }

        public void setBlockSize(DataSize blockSize) {
            this.blockSize = blockSize;
        }

        public DataSize getFetchSize() {
            return fetchSize;
        }

        public void setFetchSize(DataSize fetchSize) {
            this.fetchSize = fetchSize;
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

        public Duration getRevalidateInterval() {
            return revalidateInterval;
        }

        public void setRevalidateInterval(Duration revalidateInterval) {
            this.revalidateInterval = revalidateInterval;
        }

        public int getFetchAttempts() {
            return fetchAttempts;
        }

        public void setFetchAttempts(int fetchAttempts) {
            this.fetchAttempts = fetchAttempts;
        }

        public Duration getRetryBackoff() {
            return retryBackoff;
        }

        public void setRetryBackoff(Duration retryBackoff) {
            this.retryBackoff = retryBackoff;
        }

        public Duration getUpstreamTimeout() {
            return upstreamTimeout;
        }

        public void setUpstreamTimeout(Duration upstreamTimeout) {
            this.upstreamTimeout = upstreamTimeout;
        }

        public int getReadAhead() {
            return readAhead;
        }

        public void setReadAhead(int readAhead) {
            this.readAhead = readAhead;
        }

        public DataSize getScrubRate() {
            return scrubRate;
        }

        public void setScrubRate(DataSize scrubRate) {
            this.scrubRate = scrubRate;
        }

        public DataSize getQuota() {
            return quota;
        }

        public void setQuota(DataSize quota) {
            this.quota = quota;
        }

        public Duration getScrubInterval() {
            return scrubInterval;
        }

        public void setScrubInterval(Duration scrubInterval) {
            this.scrubInterval = scrubInterval;
        }
    }
}
