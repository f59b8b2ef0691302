package dev.branchboot.server.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.testing.TestProperties;
import dev.branchboot.server.upstream.UpstreamRevision;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** The cache directory's bookkeeping under concurrent first requests. */
class CacheDirectoryTest {
    @TempDir
    Path temp;

    @Test
    void fiftyFirstRequestsForANewNameRecordItOnceWithoutAWarning() throws Exception {
        BranchbootProperties properties = TestProperties.of("upstreams", "http://origin.invalid/images",
                "cache.dir", temp.resolve("cache").toString());
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        CacheDirectory directory = new CacheDirectory(properties, new CacheMetrics(registry), registry);
        Logger logger = (Logger) LoggerFactory.getLogger(CacheDirectory.class);
        ListAppender<ILoggingEvent> events = new ListAppender<>();
        events.start();
        logger.addAppender(events);
        ExecutorService pool = Executors.newFixedThreadPool(50);
        try {
            UpstreamRevision upstream = new UpstreamRevision("win11.qcow2", "\"5f-1000\"", false, 4096,
                    Instant.parse("2026-11-24T10:00:00Z"), null, URI.create("http://origin.invalid/images"));
            CountDownLatch go = new CountDownLatch(1);
            List<Future<CachedRevision>> results = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                results.add(pool.submit(() -> {
                    go.await();
                    return directory.revisionFor(upstream);
                }));
            }
            go.countDown();
            CachedRevision first = results.get(0).get();
            for (Future<CachedRevision> result : results) {
                assertSame(first, result.get(), "one revision for all of them");
            }
            assertEquals(List.of(), events.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.WARN))
                    .map(ILoggingEvent::getFormattedMessage).toList());
            try (var names = Files.list(temp.resolve("cache/names"))) {
                assertEquals(1, names.count(), "one name recorded, no temporary files left");
            }
            assertSame(first, directory.lastKnown("win11.qcow2").orElseThrow());
        } finally {
            pool.shutdownNow();
            logger.detachAppender(events);
            directory.close();
        }
    }
}
