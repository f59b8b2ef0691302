package dev.branchboot.server.images;

import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.config.OriginMode;
import dev.branchboot.server.http.EntityTags;
import dev.branchboot.server.http.ImageFile;
import dev.branchboot.server.util.RateLimitedLog;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

/**
 * The directory of images and the only way to reach a file in it. Every name is checked segment
 * by segment ({@code ..}, encoded dots and slashes, NUL bytes are refused), then the path's real
 * location must still lie inside the root, so a symlink pointing out is never followed. Dot-files
 * and {@code *.part} files (uploads in progress) are never served, by name or as a symlink target.
 */
@OriginMode
@Component
public class ImageStore {
    private static final Logger log = LoggerFactory.getLogger(ImageStore.class);
    private static final String PARTIAL_SUFFIX = ".part";

    private final Path root;
    /** A link leading out is met again by every request for its name and every listing: one line per 10 s. */
    private final RateLimitedLog escapingLinks = RateLimitedLog.every10Seconds(log);

    /** Opens the configured images directory; its existence was checked when the properties were bound. */
    @org.springframework.beans.factory.annotation.Autowired
    public ImageStore(BranchbootProperties properties) throws IOException {
        try {
            this.root = properties.imagesFolder().toRealPath();
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IllegalStateException("branchboot.images-dir '" + properties.imagesFolder().toAbsolutePath()
                    + "' does not exist: create it, or set branchboot.images-dir (origin) or branchboot.upstreams (branch cache)", e);
        }
        log.info("Serving images from {}", root);
    }

    private ImageStore(Path root) throws IOException {
        this.root = root.toRealPath();
    }

    /**
     * A folder of images read with exactly the origin's rules, outside origin mode: a branch's
     * {@code file:} upstream (an NFS mount of the origin's folder) must hide what the origin hides.
     *
     * @throws IOException when {@code root} does not exist or cannot be resolved
     */
    public static ImageStore folder(Path root) throws IOException {
        return new ImageStore(root);
    }

    /** The real path of the image root. */
    public Path root() {
        return root;
    }

    /**
     * Resolves a name as it appears in a URL after {@code /images/}: still percent-encoded, with
     * {@code /} between sub-folders.
     *
     * @throws ImageNameException     if the name can never be valid
     * @throws ImageNotFoundException if no servable file has that name
     */
    public ImageFile resolveEncoded(String encodedName) {
        List<String> segments = new ArrayList<>();
        for (String encoded : encodedName.split("/", -1)) {
            segments.add(decodeSegment(encodedName, encoded));
        }
        return resolve(String.join("/", segments), segments);
    }

    /**
     * Decodes and checks a name as it appears in a URL after {@code /images/}, with the same rules
     * as {@link #resolveEncoded} but without a directory: what the branch cache asks upstreams for.
     *
     * @throws ImageNameException     if the name can never be valid
     * @throws ImageNotFoundException if it names a hidden or partial file, which are never served
     */
    public static String decodeName(String encodedName) {
        List<String> segments = new ArrayList<>();
        for (String encoded : encodedName.split("/", -1)) {
            String segment = decodeSegment(encodedName, encoded);
            segments.add(segment);
        }
        String name = String.join("/", segments);
        for (String segment : segments) {
            if (!servableName(segment)) {
                throw new ImageNotFoundException(name, "hidden or partial file names are not served");
            }
        }
        return name;
    }

    /**
     * Resolves a decoded name relative to the root ({@code /} between sub-folders).
     *
     * @throws ImageNameException     if the name can never be valid
     * @throws ImageNotFoundException if no servable file has that name
     */
    public ImageFile resolve(String name) {
        List<String> segments = List.of(name.split("/", -1));
        for (String segment : segments) {
            checkSegment(name, segment);
        }
        return resolve(name, segments);
    }

    private ImageFile resolve(String name, List<String> segments) {
        Path candidate = root;
        for (String segment : segments) {
            if (!servableName(segment)) {
                throw new ImageNotFoundException(name, "hidden or partial file names are not served");
            }
            candidate = candidate.resolve(segment);
        }
        Path real;
        BasicFileAttributes attributes;
        try {
            // The root is already a real path, so a name without symlinks is its own real path:
            // one lstat per segment instead of realpath(3)'s readlink for every component of the
            // absolute path. Only a name that goes through a symlink pays for toRealPath.
            attributes = null;
            Path walked = root;
            for (String segment : segments) {
                walked = walked.resolve(segment);
                attributes = Files.readAttributes(walked, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                if (attributes.isSymbolicLink()) {
                    break;
                }
            }
            if (attributes.isSymbolicLink()) {
                real = candidate.toRealPath();
                attributes = Files.readAttributes(real, BasicFileAttributes.class);
            } else {
                real = candidate;
            }
        } catch (NoSuchFileException e) {
            throw new ImageNotFoundException(name, "no such file (or a dangling symlink)");
        } catch (IOException e) {
            throw new ImageNotFoundException(name, "cannot stat: " + e);
        }
        if (!real.startsWith(root)) {
            escapingLinks.warn("Image '{}' resolves to {}, outside the images directory {}; not served. "
                    + "Symlinks must point inside the images directory.", name, real, root);
            throw new ImageNotFoundException(name, "resolves outside the images directory");
        }
        if (!attributes.isRegularFile()) {
            throw new ImageNotFoundException(name, "not a regular file");
        }
        String revision = relativeName(real);
        for (String segment : revision.split("/")) {
            if (!servableName(segment)) {
                throw new ImageNotFoundException(name, "links to hidden or partial file '" + revision + "'");
            }
        }
        Instant modifiedExactly = attributes.lastModifiedTime().toInstant();
        Instant modified = modifiedExactly.truncatedTo(ChronoUnit.SECONDS);
        long size = attributes.size();
        return new ImageFile(name, revision, real, size, modified, EntityTags.ofFile(revision, modifiedExactly, size));
    }

    /**
     * Every servable image below the root, at most {@code maxDepth} folder levels deep, sorted by
     * name. Symlinks to files are listed (resolved to their revisions); symlinked folders are not
     * descended into, so a listing cannot loop or leave the root.
     */
    public List<ImageFile> list(int maxDepth) {
        List<ImageFile> images = new ArrayList<>();
        try {
            Files.walkFileTree(root, EnumSet.noneOf(java.nio.file.FileVisitOption.class), maxDepth,
                    new SimpleFileVisitor<>() {
                        @Override
                        public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                            return dir.equals(root) || servableName(dir.getFileName().toString())
                                    ? FileVisitResult.CONTINUE : FileVisitResult.SKIP_SUBTREE;
                        }

                        @Override
                        public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                            if ((attrs.isRegularFile() || attrs.isSymbolicLink())
                                    && servableName(file.getFileName().toString())) {
                                String name = relativeName(file);
                                try {
                                    images.add(resolve(name));
                                } catch (ImageNotFoundException | ImageNameException e) {
                                    log.debug("Catalog skips {}", e.getMessage());
                                }
                            }
                            return FileVisitResult.CONTINUE;
                        }

                        @Override
                        public FileVisitResult visitFileFailed(Path file, IOException e) {
                            log.warn("Catalog cannot read {}: {}", file, e.toString());
                            return FileVisitResult.CONTINUE;
                        }
                    });
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list images directory " + root, e);
        }
        images.sort((a, b) -> a.name().compareTo(b.name()));
        return Collections.unmodifiableList(images);
    }

    /** Whether the root is still there and readable (an NFS mount can go away). */
    public boolean rootReadable() {
        return Files.isDirectory(root, LinkOption.NOFOLLOW_LINKS) && Files.isReadable(root);
    }

    private String relativeName(Path path) {
        Path relative = root.relativize(path);
        StringBuilder name = new StringBuilder();
        for (Path part : relative) {
            if (name.length() > 0) {
                name.append('/');
            }
            name.append(part);
        }
        return name.toString();
    }

    /** False for names the store never serves: dot-files (also . and ..) and uploads in progress. */
    static boolean servableName(String segment) {
        return !segment.startsWith(".") && !segment.endsWith(PARTIAL_SUFFIX);
    }

    private static void checkSegment(String name, String segment) {
        if (segment.isEmpty()) {
            throw new ImageNameException(name, "empty path segment");
        }
        if (segment.equals(".") || segment.equals("..")) {
            throw new ImageNameException(name, "'" + segment + "' segments are not allowed");
        }
        for (int i = 0; i < segment.length(); i++) {
            char c = segment.charAt(i);
            if (c == '/' || c == '\\') {
                throw new ImageNameException(name, "encoded slash or backslash in a segment");
            }
            if (c < 0x20 || c == 0x7f) {
                throw new ImageNameException(name, "control character (such as NUL) in the name");
            }
        }
    }

    /** Strict percent-decoding of one path segment to UTF-8, then the segment checks. */
    private static String decodeSegment(String rawName, String encoded) {
        String decoded;
        if (encoded.indexOf('%') < 0) {
            decoded = encoded;
        } else {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream(encoded.length());
            for (int i = 0; i < encoded.length(); i++) {
                char c = encoded.charAt(i);
                if (c == '%') {
                    int high = i + 2 < encoded.length() ? Character.digit(encoded.charAt(i + 1), 16) : -1;
                    int low = high >= 0 ? Character.digit(encoded.charAt(i + 2), 16) : -1;
                    if (low < 0) {
                        throw new ImageNameException(rawName, "bad percent-encoding");
                    }
                    bytes.write(high * 16 + low);
                    i += 2;
                } else if (c < 0x80) {
                    bytes.write(c);
                } else {
                    byte[] utf8 = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
                    bytes.write(utf8, 0, utf8.length);
                }
            }
            try {
                decoded = StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(bytes.toByteArray())).toString();
            } catch (CharacterCodingException e) {
                throw new ImageNameException(rawName, "percent-encoding is not UTF-8");
            }
        }
        checkSegment(rawName, decoded);
        return decoded;
    }
}
