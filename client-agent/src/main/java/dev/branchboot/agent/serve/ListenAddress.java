package dev.branchboot.agent.serve;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;

/** A {@code --listen} value: {@code unix:PATH} or {@code tcp:HOST:PORT} ({@code tcp:[::1]:PORT} for IPv6). */
public record ListenAddress(SocketAddress address) {

    /**
     * Parses a listen address.
     *
     * @throws IllegalArgumentException naming the bad value and the accepted forms
     */
    public static ListenAddress parse(String text) {
        if (text.startsWith("unix:") && text.length() > 5) {
            return new ListenAddress(UnixDomainSocketAddress.of(Path.of(text.substring(5))));
        }
        if (text.startsWith("tcp:")) {
            String rest = text.substring(4);
            int colon = rest.lastIndexOf(':');
            if (colon > 0) {
                String host = rest.substring(0, colon);
                if (host.startsWith("[") && host.endsWith("]")) {
                    host = host.substring(1, host.length() - 1);
                }
                try {
                    int port = Integer.parseInt(rest.substring(colon + 1));
                    if (port >= 0 && port <= 65535) {
                        InetSocketAddress address = new InetSocketAddress(host, port);
                        if (address.isUnresolved()) {
                            throw new IllegalArgumentException("'" + text + "': '" + host + "' is neither an IP address nor a "
                                    + "host name that resolves");
                        }
                        return new ListenAddress(address);
                    }
                } catch (NumberFormatException e) {
                    // Reported below with the accepted forms.
                }
            }
        }
        throw new IllegalArgumentException("'" + text + "' is not a listen address (use unix:PATH or tcp:HOST:PORT)");
    }

    /** The address in {@code --listen} form, e.g. for the ready file. */
    public static String format(SocketAddress address) {
        if (address instanceof UnixDomainSocketAddress unix) {
            return "unix:" + unix.getPath();
        }
        InetSocketAddress inet = (InetSocketAddress) address;
        String host = inet.getHostString();
        return "tcp:" + (host.contains(":") ? "[" + host + "]" : host) + ":" + inet.getPort();
    }

}
