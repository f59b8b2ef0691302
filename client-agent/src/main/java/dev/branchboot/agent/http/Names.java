package dev.branchboot.agent.http;

import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;

/** Image names (paths under a server's images folder) and the URLs they make. */
final class Names {
    private static final String UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/";

    private Names() {
    }

    /** {@code name} percent-encoded as a relative URL path ('/' kept as the separator). */
    static String encode(String name) {
        StringBuilder out = new StringBuilder();
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (b & 0xFF);
            if (c < 128 && UNRESERVED.indexOf(c) >= 0) {
                out.append(c);
            } else {
                out.append('%').append(Character.toUpperCase(Character.forDigit((b >> 4) & 0xF, 16)))
                        .append(Character.toUpperCase(Character.forDigit(b & 0xF, 16)));
            }
        }
        // A first segment with ':' would read as a scheme.
        return out.indexOf(":") >= 0 && out.indexOf("/") != 0 ? "./" + out : out.toString();
    }

    /** The decoded path of {@code url} relative to {@code base}, or {@code null} when it lies outside. */
    static String underBase(URI base, URI url) {
        URI normalized = url.normalize();
        if (!base.getScheme().equalsIgnoreCase(String.valueOf(normalized.getScheme()))
                || !base.getRawAuthority().equalsIgnoreCase(String.valueOf(normalized.getRawAuthority()))) {
            return null;
        }
        String basePath = base.getRawPath();
        String path = normalized.getRawPath();
        if (path == null || !path.startsWith(basePath) || path.length() == basePath.length()) {
            return null;
        }
        String relative = URLDecoder.decode(path.substring(basePath.length()).replace("+", "%2B"), StandardCharsets.UTF_8);
        for (String segment : relative.split("/")) {
            if (segment.equals("..") || segment.equals(".")) {
                return null;
            }
        }
        return relative;
    }

    /** A server URL as the base of its images folder: ends with '/', no query or fragment. */
    static URI base(String url) {
        URI uri = URI.create(url.endsWith("/") ? url : url + "/");
        String scheme = uri.getScheme();
        if (scheme == null || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https")) || uri.getHost() == null) {
            throw new IllegalArgumentException("'" + url + "' is not an http:// or https:// URL with a host");
        }
        if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw new IllegalArgumentException("'" + url + "' must not have a query or fragment");
        }
        return uri;
    }
}
