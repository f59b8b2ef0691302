package dev.branchboot.server.http;

import java.nio.file.Path;
import java.time.Instant;

/**
 * An image file as one request sees it: the name asked for, the revision it resolves to (the real
 * file behind any symlinks), and that file's length, modification time and ETag, all taken from
 * one {@code stat} so they describe the same file.
 *
 * @param name         the requested name relative to the image root, with {@code /} separators
 * @param revision     the real file's name relative to the image root; differs from {@code name}
 *                     when a symlink was followed
 * @param path         the real file's absolute path, the one that is read
 * @param size         the file's length in bytes
 * @param lastModified the file's modification time, truncated to seconds as HTTP dates are
 * @param etag         the strong entity tag, quotes included
 */
public record ImageFile(String name, String revision, Path path, long size, Instant lastModified, String etag) {

    /** True when the name is (or goes through) a symlink, so responses name the revision in Content-Location. */
    public boolean symlinked() {
        return !name.equals(revision);
    }
}
