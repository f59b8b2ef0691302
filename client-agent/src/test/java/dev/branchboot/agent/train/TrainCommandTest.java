package dev.branchboot.agent.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.AgentMain;
import dev.branchboot.agent.serve.Tools;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code train} on images qemu-img made: the whole boot path runs and its bytes are checked;
 * bad input fails with the image named.
 */
class TrainCommandTest {
    @TempDir
    Path dir;

    record Result(int status, String err) {
    }

    Result train(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String[] argv = new String[args.length + 1];
        argv[0] = "train";
        System.arraycopy(args, 0, argv, 1, args.length);
        int status = AgentMain.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                argv);
        return new Result(status, err.toString(StandardCharsets.UTF_8));
    }

    /** 40 MiB, a third random, a third text-like, a third zeros, as a compressed QCOW2 of {@code type}. */
    Path image(String type) throws IOException, InterruptedException {
        Path raw = dir.resolve("disk-" + type + ".raw");
        byte[] bytes = new byte[40 << 20];
        Random random = new Random(11);
        for (int i = 0; i < bytes.length / 3; i++) {
            bytes[i] = (byte) random.nextInt();
        }
        for (int i = bytes.length / 3; i < 2 * bytes.length / 3; i++) {
            bytes[i] = (byte) ('a' + random.nextInt(6));
        }
        Files.write(raw, bytes);
        Path image = dir.resolve("disk-" + type + ".qcow2");
        Tools.run(dir, "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "compression_type=" + type,
                raw.toString(), image.toString());
        return image;
    }

    @Test
    void aZstdImageIsReadOverHttpAndNbdAndChecked() throws Exception {
        Path image = image("zstd");
        Result result = train("--image", image.toString());
        assertEquals(0, result.status(), result.err());
        assertTrue(result.err().contains("equal to the image decoded directly"), result.err());
        assertTrue(result.err().matches("(?s).*through NBD, unsigned and signed \\([1-9][0-9]* HTTP range requests, [1-9][0-9]* bytes\\).*"),
                "the image came over HTTP: " + result.err());
        try (var left = Files.list(dir)) {
            assertEquals(List.of(), left.filter(p -> p.getFileName().toString().contains("manifest")).toList(),
                    "the throwaway manifest is written in the run's own folder, not beside the image");
        }
    }

    @Test
    void aDeflateImageAndARawImageTrainToo() throws Exception {
        Path deflate = image("zlib");
        assertEquals(0, train("--image", deflate.toString()).status());
        Path raw = dir.resolve("disk-zstd.raw");
        if (!Files.exists(raw)) {
            image("zstd");
        }
        Result result = train("--image", raw.toString(), "--format", "raw");
        assertEquals(0, result.status(), result.err());
    }

    @Test
    void aFileThatIsNotAQcow2ImageFailsNamingIt() throws IOException {
        Path bogus = dir.resolve("bogus.qcow2");
        Files.write(bogus, new byte[1 << 20]);
        Result result = train("--image", bogus.toString());
        assertEquals(1, result.status(), result.err());
        assertTrue(result.err().contains("bogus.qcow2"), result.err());
    }

    @Test
    void aMissingImageIsAUsageError() {
        Result missing = train("--image", dir.resolve("none.qcow2").toString());
        assertEquals(2, missing.status());
        assertTrue(missing.err().contains("none.qcow2: no such file"), missing.err());
        assertEquals(2, train().status());
    }

    @Test
    void theLoopbackServerAnswersRangesAndRefusesAnotherRevision() throws IOException {
        Path file = dir.resolve("f.img");
        Files.write(file, "0123456789".getBytes(StandardCharsets.US_ASCII));
        try (LoopbackImageServer server = LoopbackImageServer.start(dir)) {
            URI uri = URI.create(server.folderUrl() + "f.img");
            HttpURLConnection range = (HttpURLConnection) uri.toURL().openConnection();
            range.setRequestProperty("Range", "bytes=2-5");
            assertEquals(206, range.getResponseCode());
            assertEquals("bytes 2-5/10", range.getHeaderField("Content-Range"));
            assertEquals("2345", new String(range.getInputStream().readAllBytes(), StandardCharsets.US_ASCII));
            String etag = range.getHeaderField("ETag");
            assertTrue(etag.startsWith("\""), etag);

            HttpURLConnection stale = (HttpURLConnection) uri.toURL().openConnection();
            stale.setRequestProperty("Range", "bytes=0-1");
            stale.setRequestProperty("If-Match", "\"other\"");
            assertEquals(412, stale.getResponseCode());

            HttpURLConnection head = (HttpURLConnection) uri.toURL().openConnection();
            head.setRequestMethod("HEAD");
            assertEquals(200, head.getResponseCode());
            assertEquals(10, head.getContentLengthLong());

            HttpURLConnection other = (HttpURLConnection) URI.create(server.folderUrl() + "other.img").toURL().openConnection();
            assertEquals(404, other.getResponseCode());
        }
    }
}
