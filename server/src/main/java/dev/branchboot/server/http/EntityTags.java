package dev.branchboot.server.http;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Strong entity tags (nginx's, and the origin's own, {@link #ofFile}), and the parsing and comparison of entity-tag lists from
 * If-Match, If-None-Match and If-Range (RFC 9110 section 8.8.3).
 */
public final class EntityTags {

    private EntityTags() {
    }

    /**
     * The ETag nginx gives a static file: the modification time in seconds since the epoch and the
     * length, both in lower-case hex, quoted ({@code "6925a1b2-10000000"}). The branch computes it
     * for an upstream that sends no strong ETag.
     */
    public static String of(Instant lastModified, long size) {
        return "\"" + Long.toHexString(lastModified.getEpochSecond()) + "-" + Long.toHexString(size) + "\"";
    }

    /**
     * The ETag a branchboot origin gives image file {@code revision} (its path relative to the
     * images folder): nginx's two fields, then 48 bits of a hash of the revision's name and its
     * modification time to the nanosecond ({@code "6925a1b2-10000000-3f9a0c12d4e7"}).
     *
     * <p>nginx's formula alone names two files by one tag when they have one length and were
     * written in one second (four revisions copied in a row), and a cache keyed by it then mixes
     * their bytes. The revision's name tells apart any two files that exist at once in one images
     * folder, and the nanoseconds a file replaced under its old name. The inode would do that too,
     * but it changes when a folder is copied or restored, where name and time survive {@code rsync
     * -a} and {@code cp -p}: two origins serving copies of one folder keep agreeing, so clients fail
     * over between them without losing their pinned revision. Not a secret and not a content
     * digest: for bytes that are vouched for, sign the image ({@code branchboot.trust-key}).
     */
    public static String ofFile(String revision, Instant lastModified, long size) {
        long hash = 0xcbf29ce484222325L; // FNV-1a, 64 bits
        byte[] name = revision.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (byte b : name) {
            hash = (hash ^ (b & 0xff)) * 0x100000001b3L;
        }
        long time = lastModified.getEpochSecond() * 1_000_000_000L + lastModified.getNano();
        for (int i = 0; i < 8; i++) {
            hash = (hash ^ ((time >>> (8 * i)) & 0xff)) * 0x100000001b3L;
        }
        String suffix = Long.toHexString((hash >>> 16) | (1L << 48)).substring(1);
        return "\"" + Long.toHexString(lastModified.getEpochSecond()) + "-" + Long.toHexString(size) + "-" + suffix + "\"";
    }

    /**
     * Whether {@code etag} has nginx's form, modification second and length only: such a tag does
     * not tell apart two files of one length written in one second, so it cannot stand for their
     * content.
     */
    public static boolean secondsAndLengthOnly(String etag) {
        return etag.matches("\"[0-9a-f]+-[0-9a-f]+\"");
    }

    /** One parsed entity tag. */
    record Tag(boolean weak, String opaque) {
    }

    /**
     * Parses a comma-separated list of entity tags; {@code null} stands for {@code *}. Elements that
     * are not entity tags are skipped, so they simply never match.
     */
    static List<Tag> parseList(String value) {
        if (value.strip().equals("*")) {
            return null;
        }
        List<Tag> tags = new ArrayList<>();
        int i = 0;
        int n = value.length();
        while (i < n) {
            char c = value.charAt(i);
            if (c == ' ' || c == '\t' || c == ',') {
                i++;
                continue;
            }
            boolean weak = false;
            if (c == 'W' && i + 2 < n && value.charAt(i + 1) == '/' && value.charAt(i + 2) == '"') {
                weak = true;
                i += 2;
            }
            if (value.charAt(i) != '"') {
                int comma = value.indexOf(',', i);
                i = comma < 0 ? n : comma + 1;
                continue;
            }
            int close = value.indexOf('"', i + 1);
            if (close < 0) {
                break;
            }
            tags.add(new Tag(weak, value.substring(i, close + 1)));
            i = close + 1;
        }
        return tags;
    }

    /** Strong comparison of a header's list against the current strong tag; {@code *} matches any. */
    static boolean strongMatch(String headerValue, String currentEtag) {
        List<Tag> tags = parseList(headerValue);
        if (tags == null) {
            return true;
        }
        for (Tag tag : tags) {
            if (!tag.weak() && tag.opaque().equals(currentEtag)) {
                return true;
            }
        }
        return false;
    }

    /** Weak comparison of a header's list against the current tag; {@code *} matches any. */
    static boolean weakMatch(String headerValue, String currentEtag) {
        List<Tag> tags = parseList(headerValue);
        if (tags == null) {
            return true;
        }
        for (Tag tag : tags) {
            if (tag.opaque().equals(currentEtag)) {
                return true;
            }
        }
        return false;
    }
}
