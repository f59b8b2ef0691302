package dev.branchboot.server.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** A lasting fault logs one WARN line per interval, then says how many lines it held back. */
class RateLimitedLogTest {

    @Test
    void oneWarningPerIntervalAndTheCountOfTheOthersWithTheNext() {
        Logger logger = (Logger) LoggerFactory.getLogger("rate-limited-log-test");
        logger.setLevel(Level.DEBUG);
        ListAppender<ILoggingEvent> events = new ListAppender<>();
        events.start();
        logger.addAppender(events);
        long[] now = {1_000_000_000L};
        RateLimitedLog warnings = new RateLimitedLog(logger, Duration.ofSeconds(10), () -> now[0]);
        for (int i = 0; i < 1000; i++) {
            warnings.warn("disk full writing {}", i);
            now[0] += 5_000_000L; // a fault every 5 ms: 5 s in all, inside one interval
        }
        List<ILoggingEvent> warns = events.list.stream().filter(e -> e.getLevel() == Level.WARN).toList();
        assertEquals(1, warns.size(), "a thousand faults in a burst: one warning");
        assertEquals("disk full writing 0", warns.get(0).getFormattedMessage());
        assertEquals(999, events.list.stream().filter(e -> e.getLevel() == Level.DEBUG).count(), "the rest at debug");
        now[0] += 5_000_000_000L;
        warnings.warn("disk full writing {}", 1000);
        warns = events.list.stream().filter(e -> e.getLevel() == Level.WARN).toList();
        assertEquals(2, warns.size());
        assertTrue(warns.get(1).getFormattedMessage().contains("and 999 more like it"), warns.get(1).getFormattedMessage());
    }
}
