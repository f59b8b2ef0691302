package dev.branchboot.agent.http;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * The image servers, in the order the operator listed them, and which of them is usable.
 *
 * <p>Requests go to the first server that is up: the list order is the preference (the local
 * branch server first, a second replica or the origin after it). A server that fails a request is
 * marked down at once and the next one takes over. A down server gets traffic back only after it
 * answered {@link HttpSettings#recoverAfter()} background probes in a row, so a server that comes
 * and goes during a boot storm does not pull clients back and forth. When every server is down,
 * requests still go to the one that failed longest ago: the retry loop of the caller decides when
 * to give up.
 */
final class ServerPool implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ServerPool.class.getName());

    /** One server: the base URL of its images folder, ending in '/'. */
    static final class Server {
        final URI base;
        private boolean up = true;
        private long downSince;
        private int goodProbes;

        Server(URI base) {
            this.base = base;
        }

        @Override
        public String toString() {
            return base.toString();
        }
    }

    private final List<Server> servers;
    private final Http11Client client;
    private final HttpSettings settings;
    private final HttpStats stats;
    private final ScheduledExecutorService prober;
    private Server current;
    /** What the probes ask for: the first image opened, as a full URL, and its ETag (or null). */
    private volatile URI probeTarget;
    private volatile String probeEtag;

    ServerPool(List<URI> bases, Http11Client client, HttpSettings settings, HttpStats stats) {
        if (bases.isEmpty()) {
            throw new IllegalArgumentException("at least one server is needed");
        }
        List<Server> list = new ArrayList<>();
        for (URI base : bases) {
            list.add(new Server(base));
        }
        this.servers = List.copyOf(list);
        this.client = client;
        this.settings = settings;
        this.stats = stats;
        this.current = servers.get(0);
        this.prober = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "http-probe");
            t.setDaemon(true);
            return t;
        });
        long every = settings.probeInterval().toMillis();
        prober.scheduleWithFixedDelay(this::probeDownServers, every, every, TimeUnit.MILLISECONDS);
    }

    List<Server> servers() {
        return servers;
    }

    /** Sets what probes request: a small HEAD of an image the servers are known to hold. */
    void probeWith(URI target, String etag) {
        if (probeTarget == null) {
            probeTarget = target;
            probeEtag = etag;
        }
    }

    /**
     * The server for the next attempt: the first one that is up and not in {@code excluded}; if
     * none is up, the non-excluded one that has been down longest; {@code null} if all are excluded.
     */
    synchronized Server pick(Set<Server> excluded) {
        Server fallback = null;
        for (Server s : servers) {
            if (excluded.contains(s)) {
                continue;
            }
            if (s.up) {
                return s;
            }
            if (fallback == null || s.downSince < fallback.downSince) {
                fallback = s;
            }
        }
        return fallback;
    }

    /** True when some server outside {@code excluded} is up, so the next attempt need not wait. */
    synchronized boolean anyUp(Set<Server> excluded) {
        for (Server s : servers) {
            if (s.up && !excluded.contains(s)) {
                return true;
            }
        }
        return false;
    }

    /** A request to {@code s} succeeded. */
    synchronized void succeeded(Server s) {
        if (!s.up) {
            // Only reached when no server was up: the one that answers is the best there is.
            s.up = true;
            s.goodProbes = 0;
            LOG.info("server " + s + " answers again");
        }
        if (current != s) {
            stats.failovers.increment();
            LOG.warning("now reading from server " + s + (current.up ? "" : " (" + current + " is down)"));
            current = s;
        }
    }

    /** A request to {@code s} failed with a transient fault described by {@code what}. */
    synchronized void failed(Server s, String what) {
        s.goodProbes = 0;
        if (s.up) {
            s.up = false;
            s.downSince = System.nanoTime();
            LOG.warning("server " + s + " marked down: " + what);
        } else {
            // Still down: move it to the back of the queue of fallbacks.
            s.downSince = System.nanoTime();
        }
    }

    private void probeDownServers() {
        URI target = probeTarget;
        if (target == null) {
            return;
        }
        List<Server> down;
        synchronized (this) {
            down = servers.stream().filter(s -> !s.up).toList();
        }
        for (Server s : down) {
            boolean good = probe(s, target);
            synchronized (this) {
                if (s.up) {
                    continue;
                }
                s.goodProbes = good ? s.goodProbes + 1 : 0;
                if (s.goodProbes >= settings.recoverAfter()) {
                    s.up = true;
                    s.goodProbes = 0;
                    LOG.info("server " + s + " recovered (" + settings.recoverAfter() + " good probes in a row)");
                }
            }
        }
    }

    /** A HEAD of the probe image on {@code s}: alive when it answers without a server error. */
    private boolean probe(Server s, URI target) {
        URI first = servers.get(0).base;
        URI url = s.base.resolve(first.relativize(target));
        try {
            java.util.Map<String, String> headers = probeEtag == null ? java.util.Map.of() : java.util.Map.of("If-Match", probeEtag);
            int status = client.send("HEAD", url, headers, null).status();
            return status == 200 || status == 412;
        } catch (java.io.IOException | RuntimeException e) {
            return false;
        }
    }

    @Override
    public void close() {
        prober.shutdownNow();
    }
}
