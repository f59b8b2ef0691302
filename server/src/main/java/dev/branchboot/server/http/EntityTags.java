package dev.branchboot.server.http;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Strong entity tags in nginx's format, and the parsing and comparison of entity-tag lists from
 * If-Match, If-None-Match and If-Range (RFC 9110 section 8.8.3).
 */
public final class EntityTags {

    private EntityTags() {
    }

    /**
     * The ETag nginx gives a static file: the modification time in seconds since the epoch and the
     * length, both in lower-case hex, quoted ({@code "6925a1b2-10000000"}). Using the same formula
     * lets an nginx origin and a branchboot origin agree on a file's identity.
     */
    public static String of(Instant lastModified, long size) {
        return "\"" + Long.toHexString(lastModified.getEpochSecond()) + "-" + Long.toHexString(size) + "\"";
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
