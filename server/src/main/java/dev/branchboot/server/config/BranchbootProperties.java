package dev.branchboot.server.config;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import java.nio.file.Path;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * Every setting of the image server, bound from {@code branchboot.*} and validated at start-up so
 * that a bad value stops the server with a message naming the property, instead of failing on the
 * first request.
 */
@Validated
@ConfigurationProperties(prefix = "branchboot")
public class BranchbootProperties {

    /**
     * Directory whose files are served under /images. May be an NFS mount. Symlinks inside it are
     * followed only while they stay inside it.
     */
    @NotNull
    @ExistingDirectory
    private Path imagesDir = Path.of("images");

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

    /** The catalog served at GET /images. */
    @Valid
    private final Catalog catalog = new Catalog();

    public Path getImagesDir() {
        return imagesDir;
    }

    public void setImagesDir(Path imagesDir) {
        this.imagesDir = imagesDir;
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

    public Catalog getCatalog() {
        return catalog;
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
}
