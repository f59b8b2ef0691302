package dev.branchboot.server.util;

import java.net.URI;

/**
 * The one way a configured URL, such as an upstream's, is shown: in logs, error messages, metric
 * tags and the catalog. A user name, password, query or fragment is left out, since those are
 * where a URL carries secrets ({@code user:password@}, {@code ?token=}) and every one of those
 * places is read by people who must not see them ({@code GET /images} and
 * {@code /actuator/prometheus} answer anyone). The server refuses such upstreams at start-up; this
 * keeps a secret out of sight should one ever get this far.
 */
public final class DisplayUrl {
    private DisplayUrl() {
    }

    /**
     * {@code url} as it may be shown: unchanged when it carries none of the parts above, else its
     * scheme, host, port and path only.
     */
    public static String of(URI url) {
        if (url == null) {
            return "null";
        }
        if (!carriesSecrets(url)) {
            return url.toString();
        }
        if (url.isOpaque()) {
            // Such as "http:user:password@host": no parts to keep apart, so nothing after the scheme is shown.
            return url.getScheme() + ":(hidden)";
        }
        StringBuilder shown = new StringBuilder();
        if (url.getScheme() != null) {
            shown.append(url.getScheme()).append(':');
        }
        String authority = url.getRawAuthority();
        if (authority != null) {
            shown.append("//").append(authority.substring(authority.lastIndexOf('@') + 1));
        }
        if (url.getRawPath() != null) {
            shown.append(url.getRawPath());
        }
        return shown.toString();
    }

    /**
     * Whether {@code url} has a user name or password (also where Java could not parse the
     * authority into user and host, as in {@code http://user:p@ss@host/}), a query or a fragment.
     * An opaque URL ({@code http:user@host}) counts when it holds an {@code @} or a {@code ?}.
     */
    public static boolean carriesSecrets(URI url) {
        String authority = url.getRawAuthority();
        return url.getRawUserInfo() != null || (authority != null && authority.indexOf('@') >= 0)
                || url.getRawQuery() != null || url.getRawFragment() != null
                || (url.isOpaque() && (url.getRawSchemeSpecificPart().indexOf('@') >= 0
                        || url.getRawSchemeSpecificPart().indexOf('?') >= 0));
    }
}
