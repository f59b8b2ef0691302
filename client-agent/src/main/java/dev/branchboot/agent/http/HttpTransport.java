package dev.branchboot.agent.http;

import java.net.URI;
import java.time.Duration;
import java.util.List;

/**
 * What an {@link HttpRangeSource} needs to fetch bytes from the image servers, made once per
 * agent and shared by every file of a backing chain: the HTTP/1.1 client with its kept-alive
 * connections, the {@link ServerPool} with its failover state, the settings, the counters, and the
 * listener told of every range fetched.
 *
 * <p>The transport owns the client and the pool: {@link #close()} stops the pool's background
 * probes and closes the connections. Sources made on it must not be read afterwards.
 *
 * @param client   the connections range requests and HEADs go out on
 * @param pool     which server to ask, and which are down
 * @param settings timeouts, retry deadline and read-ahead limit
 * @param stats    the traffic counters every fetch and retry is added to
 * @param listener told of every range fetched (the read trace); {@link FetchListener#NONE} for none
 */
record HttpTransport(Http11Client client, ServerPool pool, HttpSettings settings, HttpStats stats, FetchListener listener)
        implements AutoCloseable {

    /**
     * Connecting takes at most this long even where a request may take longer, so that a server
     * that accepts no connection is given up for the next one without waiting out the request
     * timeout.
     */
    private static final Duration LONGEST_CONNECT = Duration.ofSeconds(10);

    /**
     * A transport to {@code servers} (base URLs of their images folders, ending in '/', in order of
     * preference), with fresh counters; the pool starts probing failed servers in the background.
     */
    static HttpTransport connect(List<URI> servers, HttpSettings settings, FetchListener listener) {
        Duration connectTimeout = settings.requestTimeout().compareTo(LONGEST_CONNECT) <= 0
                ? settings.requestTimeout() : LONGEST_CONNECT;
        Http11Client client = new Http11Client(settings.requestTimeout(), connectTimeout);
        HttpStats stats = new HttpStats();
        return new HttpTransport(client, new ServerPool(servers, settings, stats), settings, stats, listener);
    }

    /** The URL of image file {@code name} on the first (preferred) server: how the file is named in messages. */
    URI preferredUrl(String name) {
        return pool.servers().get(0).base.resolve(Names.encode(name));
    }

    /** Stops the pool's background probes, then closes the connections. */
    @Override
    public void close() {
        pool.close();
        client.close();
    }
}
