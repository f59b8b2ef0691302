package dev.branchboot.agent.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The agent's own command-line parser, without running a command: option forms ({@code --x v},
 * {@code --x=v}, short names, flags, repeats, {@code --}), positionals, help, and the message of
 * every usage error, which is what an admin reads at a boot prompt.
 */
class ParsedArgumentsTest {
    private enum Mode { FAST, SAFE }

    private static CommandSpec spec() {
        return new CommandSpec("demo", "A command for the parser's tests.")
                .positional("IMAGE", "the image")
                .optionalPositional("OUTPUT", "where to write")
                .option("-s, --server", "URL", "a server")
                .repeatableOption("--header", "LINE", "an HTTP header")
                .flag("-q, --quiet", "say less")
                .option("--count", "N", "how many")
                .option("--timeout", "DURATION", "how long")
                .option("--size", "SIZE", "how big")
                .option("--mode", "MODE", "how")
                .option("--file", "PATH", "a file");
    }

    private static ParsedArguments parse(String... args) throws UsageException {
        return spec().parse(args);
    }

    private static String usageError(String... args) {
        return assertThrows(UsageException.class, () -> parse(args)).getMessage();
    }

    @Test
    void optionsInEveryFormAndPositionalsInOrder() throws Exception {
        ParsedArguments parsed = parse("-s", "http://a/", "disk.qcow2", "--header=X-A: 1", "--header", "X-B: 2", "-q", "out.raw");
        assertEquals("disk.qcow2", parsed.positional(0));
        assertEquals("out.raw", parsed.positional(1));
        assertNull(parsed.positional(2));
        assertEquals("http://a/", parsed.string("--server", null), "a short name stores under the long one");
        assertEquals(List.of("X-A: 1", "X-B: 2"), parsed.strings("--header"));
        assertTrue(parsed.flag("--quiet"));
        assertFalse(parsed.helpRequested());
        assertEquals("fallback", parsed.string("--count", "fallback"));
    }

    @Test
    void doubleDashEndsOptionsAndALoneDashIsAPositional() throws Exception {
        ParsedArguments parsed = parse("--", "-weird-name.qcow2", "-");
        assertEquals("-weird-name.qcow2", parsed.positional(0));
        assertEquals("-", parsed.positional(1));
    }

    @Test
    void helpSkipsTheChecksOfMissingParameters() throws Exception {
        assertTrue(parse("--help").helpRequested());
        assertTrue(parse("-h", "--count", "3").helpRequested());
        String help = spec().help("branchboot-agent");
        assertTrue(help.startsWith("Usage: branchboot-agent demo [OPTIONS] IMAGE [OUTPUT]\n"), help);
        assertTrue(help.contains("-s, --server=URL"), help);
        assertTrue(help.contains("an HTTP header May be given more than once."), help);
    }

    @Test
    void everyUsageErrorSaysWhatIsWrong() {
        assertEquals("Unknown option: '--serve'", usageError("disk", "--serve", "x"));
        assertEquals("Option '--quiet' takes no value", usageError("disk", "--quiet=yes"));
        assertEquals("Missing value for option '--server' (URL)", usageError("disk", "--server"));
        assertEquals("Option '-s' given more than once", usageError("disk", "--server", "a", "-s", "b"));
        assertEquals("Unexpected argument 'extra'", usageError("disk", "out", "extra"));
        assertEquals("Missing required parameter: 'IMAGE'", usageError("--quiet"));
    }

    @Test
    void typedValuesAndTheirBounds() throws Exception {
        ParsedArguments parsed = parse("disk", "--count", " 7 ", "--timeout", "250ms", "--size", "64K", "--mode", "Safe",
                "--file", "/tmp/x");
        assertEquals(7, parsed.integer("--count", 1, 1, 10));
        assertEquals(Duration.ofMillis(250), parsed.duration("--timeout", Duration.ZERO, Duration.ZERO, Duration.ofHours(1)));
        assertEquals(64 * 1024, parsed.size("--size", 0, 0, 1 << 20));
        assertEquals(Mode.SAFE, parsed.choice("--mode", Mode.class, Mode.FAST));
        assertEquals(Path.of("/tmp/x"), parsed.path("--file"));
        assertEquals(Duration.ofSeconds(30), parse("disk", "--timeout", "30").duration("--timeout", Duration.ZERO,
                Duration.ZERO, Duration.ofHours(1)), "a bare number is seconds");
        assertEquals(Duration.ofMinutes(5), parse("disk", "--timeout", "5m").duration("--timeout", Duration.ZERO,
                Duration.ZERO, Duration.ofHours(1)));

        assertEquals("Option '--count' must be a whole number from 1 to 10, not '11'",
                assertThrows(UsageException.class, () -> parse("d", "--count", "11").integer("--count", 1, 1, 10)).getMessage());
        assertEquals("Option '--count' must be a whole number from 1 to 10, not 'x'",
                assertThrows(UsageException.class, () -> parse("d", "--count", "x").integer("--count", 1, 1, 10)).getMessage());
        assertEquals("Option '--timeout' must be a duration such as 500ms, 30s, 5m or 1h, not '5 minutes'",
                assertThrows(UsageException.class, () -> parse("d", "--timeout", "5 minutes")
                        .duration("--timeout", Duration.ZERO, Duration.ZERO, Duration.ofHours(1))).getMessage());
        assertEquals("Option '--timeout' must be from 0 ms to 3600 s",
                assertThrows(UsageException.class, () -> parse("d", "--timeout", "2h")
                        .duration("--timeout", Duration.ZERO, Duration.ZERO, Duration.ofHours(1))).getMessage());
        assertTrue(assertThrows(UsageException.class, () -> parse("d", "--size", "2M").size("--size", 0, 0, 1 << 20))
                .getMessage().startsWith("Option '--size' must be from "));
        assertEquals("Option '--mode' must be one of fast, safe, not 'quick'",
                assertThrows(UsageException.class, () -> parse("d", "--mode", "quick").choice("--mode", Mode.class, Mode.FAST))
                        .getMessage());
        assertEquals("Option '--file' needs a file name",
                assertThrows(UsageException.class, () -> parse("d", "--file=").path("--file")).getMessage());
    }

    @Test
    void aDefaultFillsOnlyWhatWasNotGiven() throws Exception {
        ParsedArguments given = parse("disk", "--count", "3").withDefault("--count", "9").withDefault("--server", "http://b/");
        assertEquals("3", given.string("--count", null));
        assertEquals("http://b/", given.string("--server", null));
        assertEquals("disk", given.positional(0));
    }
}
