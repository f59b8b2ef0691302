package dev.branchboot.server.branch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.testkit.Nginx;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real boot's reads through a cold branch in front of a real nginx: the image-file ranges a
 * Debian VM's agent fetched while it booted (the trace in {@code bench/bootstorm/traces}), replayed
 * by one client and by twenty at once. The origin must send at most 1.05 times the unique bytes the
 * boot read (one fixed 1 MiB chunk pulled 2.2 times as much), and every byte must be the origin's.
 */
class BootTraceReplayTest {
    private static final Path TRACE = Path.of(System.getProperty("maven.multiModuleProjectDirectory", "..")).toAbsolutePath()
            .resolve("bench/bootstorm/traces/debian-bookworm-boot.trace.gz");
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    /** One image-file range the agent fetched. */
    private record Fetch(long micros, long offset, int length) {
    }

    @TempDir
    Path temp;
    private List<Fetch> fetches;
    private long uniqueBytes;
    private Path image;
    private Nginx nginx;

    @BeforeEach
    void origin() throws Exception {
        fetches = readTrace(TRACE);
        long size = fetches.stream().mapToLong(f -> f.offset() + f.length()).max().orElseThrow();
        uniqueBytes = unique(fetches);
        // A sparse stand-in for the booted image: random bytes where the boot read, holes elsewhere.
        Path origin = Files.createDirectories(temp.resolve("origin"));
        image = origin.resolve("debian.qcow2");
        Random random = new Random(13);
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
            file.setLength(size);
            for (Fetch fetch : fetches) {
                byte[] bytes = new byte[fetch.length()];
                random.nextBytes(bytes);
                file.seek(fetch.offset());
                file.write(bytes);
            }
        }
        nginx = Nginx.start(temp.resolve("nginx"), origin);
    }

    @AfterEach
    void stop() throws Exception {
        nginx.close();
    }

    @Test
    void oneBootPullsAtMostFivePercentMoreThanItRead() throws Exception {
        replay(1);
    }

    @Test
    void twentyBootsAtOncePullAtMostFivePercentMoreThanOneRead() throws Exception {
        replay(20);
    }

    private void replay(int clients) throws Exception {
        // The default fetch size (the tests' servers otherwise use 256KB).
        try (BranchServer branch = BranchServer.start(nginx.imagesUrl(), temp.resolve("cache"),
                "--branchboot.cache.fetch-size=1MB")) {
            String url = "http://127.0.0.1:" + branch.port() + "/images/debian.qcow2";
            ExecutorService pool = Executors.newFixedThreadPool(clients);
            try {
                List<Future<?>> boots = new ArrayList<>();
                for (int c = 0; c < clients; c++) {
                    boots.add(pool.submit(() -> {
                        for (Fetch fetch : fetches) {
                            byte[] body = get(url, fetch);
                            assertArrayEquals(expected(fetch), body, "bytes " + fetch.offset() + "+" + fetch.length());
                        }
                        return null;
                    }));
                }
                for (Future<?> boot : boots) {
                    boot.get();
                }
            } finally {
                pool.shutdown();
            }
        }
        long uplink = nginx.bytesSent("/images/debian.qcow2");
        System.out.printf("%d replayed boot(s) of %d fetches: %d unique bytes read, the origin sent %d (%.4fx)%n", clients,
                fetches.size(), uniqueBytes, uplink, (double) uplink / uniqueBytes);
        assertTrue(uplink >= uniqueBytes, "the origin sent " + uplink + ", less than the " + uniqueBytes + " read");
        assertTrue(uplink <= uniqueBytes * 1.05, "the origin sent " + uplink + " bytes for " + uniqueBytes + " unique bytes read ("
                + String.format("%.3f", (double) uplink / uniqueBytes) + "x)");
    }

    private static byte[] get(String url, Fetch fetch) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create(url))
                .header("Range", "bytes=" + fetch.offset() + "-" + (fetch.offset() + fetch.length() - 1)).build();
        HttpResponse<byte[]> response = CLIENT.send(request, HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(206, response.statusCode());
        return response.body();
    }

    private byte[] expected(Fetch fetch) throws IOException {
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "r")) {
            byte[] bytes = new byte[fetch.length()];
            file.seek(fetch.offset());
            file.readFully(bytes);
            return bytes;
        }
    }

    /** The fetches of the trace's first image file, in the order they started. */
    static List<Fetch> readTrace(Path trace) throws IOException {
        List<Fetch> fetches = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(new GZIPInputStream(Files.newInputStream(trace)),
                StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                String[] words = line.split(" ");
                int firstRange = words[0].equals("R") ? 5 : words[0].equals("F") ? 3 : words.length;
                for (int i = firstRange; i < words.length; i++) {
                    String range = words[i];
                    if (!range.startsWith("0:")) {
                        continue;
                    }
                    int plus = range.indexOf('+');
                    fetches.add(new Fetch(Long.parseLong(words[1]), Long.parseLong(range.substring(2, plus)),
                            Integer.parseInt(range.substring(plus + 1))));
                }
            }
        }
        fetches.sort(Comparator.comparingLong(Fetch::micros));
        return fetches;
    }

    private static long unique(List<Fetch> fetches) {
        List<Fetch> byOffset = new ArrayList<>(fetches);
        byOffset.sort(Comparator.comparingLong(Fetch::offset));
        long total = 0;
        long runStart = -1;
        long runEnd = -1;
        for (Fetch fetch : byOffset) {
            long end = fetch.offset() + fetch.length();
            if (fetch.offset() > runEnd) {
                total += runEnd - runStart;
                runStart = fetch.offset();
                runEnd = end;
            } else {
                runEnd = Math.max(runEnd, end);
            }
        }
        return total + runEnd - runStart;
    }
}
