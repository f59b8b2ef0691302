package dev.branchboot.agent.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.http.ServerPool.ProbeResult;
import dev.branchboot.agent.http.ServerPool.Server;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The choice of server, driven by probe results fed in by hand (no probe runs on its own here). */
class ServerPoolTest {
    private static final long MS = 1_000_000;
    private final HttpStats stats = new HttpStats();
    private final ServerPool pool = new ServerPool(List.of(URI.create("http://branch/images/"), URI.create("http://replica/images/"),
            URI.create("http://origin/images/")), HttpSettings.DEFAULTS.withProbeInterval(Duration.ofHours(1)), stats);
    private final Server branch = pool.servers().get(0);
    private final Server replica = pool.servers().get(1);
    private final Server origin = pool.servers().get(2);

    @AfterEach
    void close() {
        pool.close();
    }

    /** One probe round with the given answer times in milliseconds (negative: no answer). */
    private void round(double branchMs, double replicaMs, double originMs) {
        probe(branch, branchMs);
        probe(replica, replicaMs);
        probe(origin, originMs);
        pool.rebalance();
    }

    private void probe(Server s, double ms) {
        pool.recordProbe(s, ms < 0 ? ProbeResult.NO_ANSWER : ProbeResult.ANSWERED, (long) (ms * MS));
    }

    private Server next() {
        return pool.pick(Set.of());
    }

    @Test
    void withNothingMeasuredTheOperatorsOrderDecides() {
        assertSame(branch, next());
        pool.failed(branch, "test");
        assertSame(replica, next());
        assertSame(origin, pool.pick(Set.of(replica)));
    }

    @Test
    void aFailureMovesToTheFastestServerThatIsUp() {
        round(1, 30, 8);
        pool.failed(branch, "connection reset");
        assertSame(origin, next(), "origin answers faster than the replica");
        pool.succeeded(origin);
        assertEquals(1, stats.failovers());
    }

    @Test
    void aReadStillOnItsWayToTheOldServerDoesNotMoveTheTrafficBack() {
        round(1, 1, 20);
        pool.failed(branch, "stopped");
        Server inFlight = next();
        pool.succeeded(inFlight);
        for (int i = 0; i < 10; i++) {
            round(1, 1, 20); // the branch server recovers, and the traffic returns to it
        }
        assertSame(branch, next());
        pool.succeeded(inFlight); // a read picked before the move ends only now
        assertSame(branch, next(), "the late answer from " + inFlight + " must not move the traffic back");
        assertEquals(2, stats.failovers());
    }

    @Test
    void aClearlyFasterServerTakesOverOnlyAfterTheDwellTime() {
        for (int i = 1; i < ServerPool.DWELL_ROUNDS; i++) {
            round(40, 3, 50);
            assertSame(branch, next(), "still on the listed first server after " + i + " rounds");
        }
        for (int i = 0; i < 20 && next() == branch; i++) {
            round(40, 3, 50);
        }
        assertSame(replica, next(), "the loaded branch server gives way to the replica");
        assertEquals(1, stats.failovers());
    }

    @Test
    void aServerLessThanTwiceAsFastDoesNotTakeOver() {
        for (int i = 0; i < 50; i++) {
            round(10, 6, 8); // 6 ms is faster, but not half of 10 ms
        }
        assertSame(branch, next());
        assertEquals(0, stats.failovers());
    }

    @Test
    void aServerFasterOnlyWithinTheSlackDoesNotTakeOver() {
        for (int i = 0; i < 50; i++) {
            round(2.3, 0.2, 1); // more than twice as fast, but within 2 ms: noise on a LAN
        }
        assertSame(branch, next());
        assertEquals(0, stats.failovers());
    }

    @Test
    void theFirstServerGetsTheTrafficBackWhenItRecoversAndIsNotClearlySlower() {
        round(1, 1, 20);
        pool.failed(branch, "stopped");
        pool.succeeded(next());
        assertSame(replica, next());
        for (int i = 0; i < 10; i++) {
            round(-1, 1, 20);
        }
        assertSame(replica, next(), "no return while the branch server does not answer");
        for (int i = 0; i < 10; i++) {
            round(1.5, 1, 20);
        }
        assertSame(branch, next(), "back on the first server once it answered its probes");
        assertEquals(2, stats.failovers());
    }

    @Test
    void aRecoveredFirstServerThatIsClearlySlowerDoesNotGetTheTrafficBack() {
        pool.failed(branch, "stopped");
        pool.succeeded(next());
        for (int i = 0; i < 30; i++) {
            round(30, 2, 40);
        }
        assertSame(replica, next());
    }

    @Test
    void noisyAnswersFromEquallyFastServersMoveNothing() {
        Random random = new Random(7);
        for (int i = 0; i < 5000; i++) {
            // Both around 4 ms, each answer anywhere from 0.4x to 1.6x, and one in fifty 10x late.
            round(noisy(random, 4), noisy(random, 4), -1);
        }
        assertSame(branch, next());
        assertEquals(0, stats.failovers());
    }

    @Test
    void noisyAnswersFromAClearlyFasterServerMoveTheAgentOnceAndForAll() {
        Random random = new Random(11);
        for (int i = 0; i < 5000; i++) {
            round(noisy(random, 25), noisy(random, 5), -1);
        }
        assertSame(replica, next());
        assertEquals(1, stats.failovers(), "moved " + stats.failovers() + " times");
    }

    private static double noisy(Random random, double ms) {
        double factor = 0.4 + 1.2 * random.nextDouble();
        return ms * (random.nextInt(50) == 0 ? 10 * factor : factor);
    }

    @Test
    void aServerWithAnotherRevisionIsNeverChosenByScore() {
        for (int i = 0; i < 20; i++) {
            pool.recordProbe(branch, ProbeResult.ANSWERED, 30 * MS);
            pool.recordProbe(replica, ProbeResult.OTHER_REVISION, MS / 10);
            pool.rebalance();
        }
        assertSame(branch, next());
        pool.failed(branch, "test");
        assertSame(replica, pool.pick(Set.of(origin)), "still a fallback for reads, which then find out themselves");
        assertNull(pool.pick(Set.of(branch, replica, origin)));
    }

    @Test
    void aSpareThatStopsAnsweringProbesIsMarkedDownButTheCurrentOneIsJudgedByReads() {
        round(1, -1, 5);
        pool.failed(branch, "reset");
        assertSame(origin, next(), "the replica failed its probe, so the failover skips it");
        pool.succeeded(origin);
        round(-1, -1, -1);
        assertSame(origin, next(), "a missed probe alone does not take the current server down");
    }

    /** A clock that advances by the given steps in nanoseconds, one per reading. */
    private static java.util.function.LongSupplier clock(long... steps) {
        long[] now = {0};
        int[] next = {0};
        return () -> now[0] += steps[next[0]++];
    }

    @Test
    void aProbeCountsTheFasterOfTwoAnswersSoTheFirstServerAskedIsNotPenalized() {
        java.util.Iterator<ProbeResult> answers = List.of(ProbeResult.ANSWERED, ProbeResult.ANSWERED).iterator();
        // the first HEAD of a round takes 9 ms (the prober just woke), the second 1 ms
        ServerPool.Measured measured = ServerPool.measure(answers::next, clock(0, 9 * MS, 0, 1 * MS));
        assertEquals(ProbeResult.ANSWERED, measured.result());
        assertEquals(1 * MS, measured.nanos());
        answers = List.of(ProbeResult.ANSWERED, ProbeResult.ANSWERED).iterator();
        assertEquals(2 * MS, ServerPool.measure(answers::next, clock(0, 2 * MS, 0, 7 * MS)).nanos(), "a late second answer");
    }

    @Test
    void aProbeWithoutAnAnswerIsNotRepeatedAndALostSecondAnswerCounts() {
        int[] calls = {0};
        ServerPool.Measured none = ServerPool.measure(() -> {
            calls[0]++;
            return ProbeResult.NO_ANSWER;
        }, clock(0, 5 * MS));
        assertEquals(ProbeResult.NO_ANSWER, none.result());
        assertEquals(1, calls[0]);
        java.util.Iterator<ProbeResult> answers = List.of(ProbeResult.ANSWERED, ProbeResult.OTHER_REVISION).iterator();
        assertEquals(ProbeResult.OTHER_REVISION, ServerPool.measure(answers::next, clock(0, MS, 0, MS)).result(),
                "the newest answer says what the server holds now");
    }

    @Test
    void withTheFirstRequestOfEveryRoundSlowTheFirstServerStillGetsTheTrafficBack() {
        pool.failed(branch, "stopped");
        pool.succeeded(next());
        assertSame(replica, next());
        for (int i = 0; i < 3; i++) {
            round(1, 1, 1); // recovery: three good probes
        }
        assertSame(replica, next());
        // every round, the first HEAD (to the branch server) takes 8 ms and the rest 0.3 ms
        for (int i = 0; i < 2 * ServerPool.DWELL_ROUNDS && next() != branch; i++) {
            for (Server s : pool.servers()) {
                java.util.Iterator<ProbeResult> answers = List.of(ProbeResult.ANSWERED, ProbeResult.ANSWERED).iterator();
                long first = s == branch ? 8 * MS : 300_000;
                ServerPool.Measured m = ServerPool.measure(answers::next, clock(0, first, 0, 300_000));
                pool.recordProbe(s, m.result(), m.nanos());
            }
            pool.rebalance();
        }
        assertSame(branch, next());
    }
}
