package dev.branchboot.agent.http;

import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * The image servers, which of them is usable, and which one the agent reads from now.
 *
 * <p><b>Choice.</b> All reads go to one server, the current one, so its cache stays warm for this
 * PC. Every {@link HttpSettings#probeInterval()} a background probe sends every server the same
 * HEAD of the open image twice in a row, the faster answer counting; the median time of its last
 * answers is the server's score, and it
 * grows with the server's load (a busy branch server answers late) and its distance (an origin
 * behind the uplink answers later than the branch server in the room). The agent moves to another
 * server when
 * <ul>
 *   <li>the current one fails a request: at once, to the up server with the best score (list order
 *       when nothing is measured yet);</li>
 *   <li>another server is clearly faster: its score is less than half the current one's and at least
 *       {@link #SLACK_NANOS} better;</li>
 *   <li>a server listed earlier (the operator's preference) is up again and not clearly slower: its
 *       score is at most 1.25 times the current one's plus {@link #SLACK_NANOS}.</li>
 * </ul>
 * Both need the same challenger in {@link #DWELL_ROUNDS} probe rounds in a row, so one slow answer
 * moves nothing. The two thresholds leave a gap, so no steady pair of scores makes the agent go back
 * and forth, and a
 * server that failed needs {@link HttpSettings#recoverAfter()} good probes in a row before it gets
 * traffic again: a boot storm that makes a server answer now and then does not pull clients to it
 * and away again. When every server is down, requests still go to the one that failed longest ago:
 * the retry loop of the caller decides when to give up.
 */
final class ServerPool implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ServerPool.class.getName());
    /** Probe rounds in a row a challenger must win before it takes the traffic over. */
    static final int DWELL_ROUNDS = 5;
    /** A difference in score below this (2 ms) is noise on a LAN, never a reason to move. */
    static final long SLACK_NANOS = 2_000_000;
    /** Probe answers a server's score is the median of: one late answer in a while moves nothing. */
    private static final int WINDOW = 5;
    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(5);

    /** One server: the base URL of its images folder, ending in '/'. */
    static final class Server {
        final URI base;
        final int rank;
        private boolean up = true;
        private long downSince;
        private int goodProbes;
        /** The median of the last probe answer times in nanoseconds; negative until a probe succeeded. */
        private double score = -1;
        private final long[] recent = new long[WINDOW];
        private int samples;

        void addSample(long nanos) {
            recent[samples % WINDOW] = nanos;
            samples++;
            long[] sorted = Arrays.copyOf(recent, Math.min(samples, WINDOW));
            Arrays.sort(sorted);
            score = sorted[sorted.length / 2];
        }

        void forgetSamples() {
            samples = 0;
            score = -1;
        }

        Server(URI base, int rank) {
            this.base = base;
            this.rank = rank;
        }

        @Override
        public String toString() {
            return base.toString();
        }
    }

    private final List<Server> servers;
    private final Http11Client probeClient;
    private final HttpSettings settings;
    private final HttpStats stats;
    private final ScheduledExecutorService prober;
    private Server current;
    /** The server that has beaten the current one in the last {@code challengerRounds} rounds. */
    private Server challenger;
    private int challengerRounds;
    /** What the probes ask for: the first image opened, as a full URL, and its ETag (or null). */
    private volatile URI probeTarget;
    private volatile String probeEtag;

    /** What a probe found. */
    enum ProbeResult {
        /** The range of the pinned revision came back: the time it took is a fair score. */
        ANSWERED,
        /** The server is alive but no longer has the pinned revision: no score, never chosen. */
        OTHER_REVISION,
        /** No answer, an error status, or a timeout. */
        NO_ANSWER
    }

    ServerPool(List<URI> bases, HttpSettings settings, HttpStats stats) {
        if (bases.isEmpty()) {
            throw new IllegalArgumentException("at least one server is needed");
        }
        List<Server> list = new ArrayList<>();
        for (URI base : bases) {
            list.add(new Server(base, list.size()));
        }
        this.servers = List.copyOf(list);
        this.settings = settings;
        this.stats = stats;
        this.current = servers.get(0);
        // Probes have their own connections and a short timeout: a black-holed server must not
        // hold up the probes of the others, nor take a connection a read could use.
        Duration timeout = settings.requestTimeout().compareTo(PROBE_TIMEOUT) < 0 ? settings.requestTimeout() : PROBE_TIMEOUT;
        this.probeClient = new Http11Client(timeout, timeout);
        this.prober = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "http-probe");
            t.setDaemon(true);
            return t;
        });
        long every = settings.probeInterval().toMillis();
        prober.scheduleWithFixedDelay(this::probeRound, every, every, TimeUnit.MILLISECONDS);
    }

    List<Server> servers() {
        return servers;
    }

    /** Sets what probes request: a small range of an image the servers are known to hold. */
    void probeWith(URI target, String etag) {
        if (probeTarget == null) {
            probeEtag = etag;
            probeTarget = target;
            if (servers.size() > 1) {
                // Measure at once, so a clearly faster server can take over after the dwell time.
                prober.execute(this::probeRound);
            }
        }
    }

    /**
     * The server for the next attempt: the current one if it is up and not in {@code excluded};
     * otherwise the up server with the best score; if none is up, the non-excluded one that has
     * been down longest; {@code null} if all are excluded.
     */
    synchronized Server pick(Set<Server> excluded) {
        if (current.up && !excluded.contains(current)) {
            return current;
        }
        Server best = null;
        Server fallback = null;
        for (Server s : servers) {
            if (excluded.contains(s)) {
                continue;
            }
            if (s.up) {
                if (best == null || better(s, best)) {
                    best = s;
                }
            } else if (fallback == null || s.downSince < fallback.downSince) {
                fallback = s;
            }
        }
        return best != null ? best : fallback;
    }

    /** A measured score beats an unmeasured one; between equals, the operator's order decides. */
    private static boolean better(Server a, Server b) {
        if (a.score >= 0 && b.score >= 0 && a.score != b.score) {
            return a.score < b.score;
        }
        if ((a.score >= 0) != (b.score >= 0)) {
            return a.score >= 0;
        }
        return a.rank < b.rank;
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
        // Only a failover moves the traffic here. A read that was already on its way to another
        // server when a probe round moved the traffic must not move it back: that is flapping.
        if (current != s && !current.up) {
            moveTo(s, " (" + current + " is down)");
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

    private void moveTo(Server s, String why) {
        stats.failedOver();
        LOG.warning("now reading from server " + s + why);
        current = s;
        challenger = null;
        challengerRounds = 0;
    }

    /** The result of one probe of {@code s}: whether it answered, and how long the answer took. */
    synchronized void recordProbe(Server s, ProbeResult result, long nanos) {
        if (result == ProbeResult.NO_ANSWER) {
            if (s.up && s != current) {
                // The current server is judged by real reads; a spare that stops answering probes
                // must not be where the next failover goes.
                failed(s, "probe not answered");
            } else {
                s.goodProbes = 0;
            }
            return;
        }
        if (result == ProbeResult.ANSWERED) {
            s.addSample(nanos);
        } else {
            s.forgetSamples();
        }
        if (!s.up) {
            s.goodProbes++;
            if (s.goodProbes >= settings.recoverAfter()) {
                s.up = true;
                s.goodProbes = 0;
                LOG.info("server " + s + " recovered (" + settings.recoverAfter() + " good probes in a row)");
            }
        }
    }

    /** A server that would take the traffic over, and why. */
    private record Challenge(Server server, String why) {
    }

    /**
     * After a probe round: moves to a clearly faster server, or back to a preferred one, once the
     * same server has been the challenger for {@link #DWELL_ROUNDS} rounds in a row.
     */
    synchronized void rebalance() {
        Challenge now = current.up && current.score >= 0 ? challenge() : null;
        if (now == null || challenger != now.server()) {
            challenger = now == null ? null : now.server();
            challengerRounds = now == null ? 0 : 1;
        } else {
            challengerRounds++;
        }
        if (now != null && challengerRounds >= DWELL_ROUNDS) {
            moveTo(now.server(), now.why());
        }
    }

    private Challenge challenge() {
        Server fastest = current;
        for (Server s : servers) {
            if (s.up && s.score >= 0 && s.score < fastest.score) {
                fastest = s;
            }
        }
        if (fastest != current && fastest.score * 2 + SLACK_NANOS < current.score) {
            return new Challenge(fastest, " (it answers in " + millis(fastest.score) + ", " + current + " in " + millis(current.score) + ")");
        }
        for (Server s : servers) {
            if (s.rank >= current.rank) {
                break;
            }
            if (s.up && s.score >= 0 && s.score <= current.score * 1.25 + SLACK_NANOS) {
                return new Challenge(s, " (listed before " + current + ", and it answers in " + millis(s.score) + " vs "
                        + millis(current.score) + ")");
            }
        }
        return null;
    }

    private static String millis(double nanos) {
        return String.format(Locale.ROOT, "%.1f ms", nanos / 1e6);
    }

    private void probeRound() {
        URI target = probeTarget;
        if (target == null) {
            return;
        }
        boolean measureAll = servers.size() > 1;
        for (Server s : servers) {
            boolean down;
            synchronized (this) {
                down = !s.up;
            }
            if (!down && !measureAll) {
                continue;
            }
            Measured measured = measure(() -> probe(s, target), System::nanoTime);
            recordProbe(s, measured.result(), measured.nanos());
        }
        rebalance();
    }

    /** A probe's outcome and the time that counts for the server's score. */
    record Measured(ProbeResult result, long nanos) {
    }

    /**
     * Probes twice in a row and keeps the faster answer. The first request of a round is slower,
     * whichever server it goes to (the prober wakes from its sleep): 5-10 times slower on a busy
     * machine, which made the first server in the list look slower than the others in every round,
     * so the agent never went back to it after a failover.
     */
    static Measured measure(java.util.function.Supplier<ProbeResult> probe, java.util.function.LongSupplier clock) {
        long start = clock.getAsLong();
        ProbeResult first = probe.get();
        long nanos = clock.getAsLong() - start;
        if (first != ProbeResult.ANSWERED) {
            return new Measured(first, nanos);
        }
        start = clock.getAsLong();
        ProbeResult second = probe.get();
        long again = clock.getAsLong() - start;
        return new Measured(second, second == ProbeResult.ANSWERED ? Math.min(nanos, again) : nanos);
    }

    /**
     * A HEAD of the probe image on {@code s} with the pinned revision's ETag. A HEAD is as slow
     * as the server is busy, costs no body on the uplink, and is never taken for a read.
     */
    private ProbeResult probe(Server s, URI target) {
        URI first = servers.get(0).base;
        URI url = s.base.resolve(first.relativize(target));
        try {
            Map<String, String> headers = probeEtag == null ? Map.of() : Map.of("If-Match", probeEtag);
            int status = probeClient.send("HEAD", url, headers, null).status();
            if (status == 200) {
                return ProbeResult.ANSWERED;
            }
            return status == 412 ? ProbeResult.OTHER_REVISION : ProbeResult.NO_ANSWER;
        } catch (IOException | RuntimeException e) {
            return ProbeResult.NO_ANSWER;
        }
    }

    @Override
    public void close() {
        prober.shutdownNow();
        probeClient.close();
    }
}
