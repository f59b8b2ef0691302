package dev.branchboot.agent.train;

import dev.branchboot.agent.cli.AgentCommand;
import dev.branchboot.agent.cli.CommandSpec;
import dev.branchboot.agent.cli.ImageArgument;
import dev.branchboot.agent.cli.ParsedArguments;
import dev.branchboot.agent.cli.UsageException;
import dev.branchboot.agent.http.HttpSettings;
import dev.branchboot.agent.nbd.NbdClient;
import dev.branchboot.agent.serve.ServeCommand;
import dev.branchboot.agent.serve.ServingThread;
import dev.branchboot.qcow2.ImageFormat;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.qcow2.VirtualDisk;
import dev.branchboot.integrity.ManifestWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code train --image FILE}: the agent's boot path once, start to finish, for the class archive
 * that {@code train-cds} records (an AOT cache on JDK 25, AppCDS on 17). A booting PC's agent
 * opens its image over HTTP and serves the kernel's NBD reads; an archive recorded from a bare
 * start-up holds neither the HTTP reader's classes nor the read path's, and under emulation or on a
 * slow PC loading and verifying those costs seconds of the boot. So this command serves FILE over
 * HTTP on 127.0.0.1, exports it with {@code serve} as {@code attach} does (same thread, same
 * options), and reads it over NBD the way a booting kernel does: the first MiB in small reads, a
 * sequential run, scattered reads, a write and a flush. It does so twice: plainly, then signed with
 * a key made for the run and checked against it, as with {@code branchboot.trust=}. Every byte read
 * is compared with the image decoded directly, so a training run on a broken runtime fails instead
 * of archiving it.
 */
public final class TrainCommand implements AgentCommand {
    private static final int SMALL_READ = 4096;
    private static final int SEQUENTIAL_READ = 128 * 1024;
    private static final long SEQUENTIAL_SPAN = 32L << 20;
    private static final int SCATTERED_READS = 64;
    private static final CommandSpec SPEC = new CommandSpec("train",
            "Runs the boot path once on a local image (HTTP open, NBD export, reads, a write), checking every byte read,",
            "so that a class archive recorded from this process (bin/train-cds) covers it.")
            .option("--image", "FILE", "A local image file (required).")
            .option("-f, --format", "FORMAT", "Format of the image: qcow2 or raw (default: qcow2).");

    @Override
    public CommandSpec spec() {
        return SPEC;
    }

    @Override
    public int run(ParsedArguments args, PrintStream out, PrintStream err) throws Exception {
        Path image = args.path("--image");
        if (image == null) {
            throw new UsageException("Missing required option: '--image=FILE'");
        }
        if (!Files.isRegularFile(image)) {
            throw new UsageException("--image " + image + ": no such file");
        }
        ImageFormat format = args.choice("--format", ImageFormat.class, ImageFormat.QCOW2);
        Path work = Files.createTempDirectory("branchboot-train");
        // the folder the loopback server serves: the image (a link to it) and, for the signed pass,
        // its manifest and the key that checks it
        String name = image.getFileName().toString();
        Path served = Files.createSymbolicLink(work.resolve(name), image.toAbsolutePath());
        try (LoopbackImageServer server = LoopbackImageServer.start(work);
             ImageArgument.Opened direct = ImageArgument.open(image.toString(), List.of(), format, HttpSettings.DEFAULTS,
                     ImageOptions.DEFAULTS)) {
            long bytes = servePass(server, work, name, format, null, direct.disk(), image);
            Path trustKey = signWithThrowawayKey(served, work);
            bytes += servePass(server, work, name, format, trustKey, direct.disk(), image);
            err.println("train: read " + bytes + " bytes of " + image + " through NBD, unsigned and signed ("
                    + server.rangesServed() + " HTTP range requests, " + server.bytesServed()
                    + " bytes), equal to the image decoded directly");
            return 0;
        } finally {
            try (java.util.stream.Stream<Path> files = Files.list(work)) {
                for (Path file : (Iterable<Path>) files::iterator) {
                    Files.deleteIfExists(file);
                }
            }
            Files.deleteIfExists(work);
        }
    }

    /**
     * One pass: {@code serve} of the image from the loopback server (checked against its manifest
     * with {@code trustKey} when given), read like a boot; returns the bytes read.
     */
    private static long servePass(LoopbackImageServer server, Path work, String name, ImageFormat format, Path trustKey,
                                  VirtualDisk direct, Path image) throws Exception {
        Path socket = work.resolve("train.sock");
        List<String> serveArgv = new ArrayList<>(List.of("--image", name, "--server", server.folderUrl(), "--format",
                format.name().toLowerCase(java.util.Locale.ROOT), "--listen", "unix:" + socket, "--cow", "ram:16M",
                "--cache-size", "16M"));
        if (trustKey != null) {
            serveArgv.addAll(List.of("--trust-key", trustKey.toString()));
        }
        ServingThread serving = ServingThread.start(ServeCommand.configured(new ServeCommand().spec().parse(serveArgv.toArray(String[]::new))));
        if (!serving.awaitListening(socket, Duration.ofSeconds(60))) {
            serving.abandon();
            throw new IOException("the export of " + image + " did not start"
                    + (serving.failure() == null ? " within 60 s" : ": " + serving.failure().getMessage()), serving.failure());
        }
        long bytes;
        try (NbdClient client = NbdClient.connect(UnixDomainSocketAddress.of(socket), name)) {
            bytes = readLikeABoot(client, direct, image);
        } finally {
            serving.stop();
        }
        if (serving.failure() != null) {
            throw new IOException("serving " + image + " failed: " + serving.failure().getMessage(), serving.failure());
        }
        return bytes;
    }

    /**
     * Signs the image with a key made for this run and writes the public half where serve can read
     * it, so the signed pass loads what a PC with {@code branchboot.trust=} loads.
     */
    private static Path signWithThrowawayKey(Path image, Path work) throws IOException, GeneralSecurityException {
        KeyPair pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
        ManifestWriter.write(image, pair.getPrivate(), null);
        Path trustKey = work.resolve("trust.pem");
        Files.writeString(trustKey, "-----BEGIN PUBLIC KEY-----\n"
                + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(pair.getPublic().getEncoded())
                + "\n-----END PUBLIC KEY-----\n", StandardCharsets.US_ASCII);
        return trustKey;
    }

    /** The reads of a boot, each batch compared with {@code direct}; returns the bytes read. */
    private static long readLikeABoot(NbdClient client, VirtualDisk direct, Path image) throws IOException {
        long size = client.size();
        if (size != direct.size()) {
            throw new IOException("the export of " + image + " has " + size + " bytes, the image " + direct.size());
        }
        long bytes = 0;
        // the partition table and the superblocks: small reads, queued as the kernel queues them
        for (long offset = 0; offset < Math.min(size, 1L << 20); offset += 16L * SMALL_READ) {
            bytes += readAndCompare(client, direct, image, offsets(offset, SMALL_READ, 16, size), SMALL_READ);
        }
        // a file read from start to end: the kernel's read-ahead, a few requests in flight
        for (long offset = 0; offset < Math.min(size, SEQUENTIAL_SPAN); offset += 4L * SEQUENTIAL_READ) {
            bytes += readAndCompare(client, direct, image, offsets(offset, SEQUENTIAL_READ, 4, size), SEQUENTIAL_READ);
        }
        // scattered small reads, the same ones on every run
        SplittableRandom random = new SplittableRandom(size);
        for (int i = 0; i < SCATTERED_READS && size >= SMALL_READ; i += 8) {
            long[] batch = new long[8];
            for (int j = 0; j < batch.length; j++) {
                batch[j] = random.nextLong((size - SMALL_READ) / SMALL_READ + 1) * SMALL_READ;
            }
            bytes += readAndCompare(client, direct, image, batch, SMALL_READ);
        }
        if (client.writable() && size >= 2L * SMALL_READ) {
            ByteBuffer pattern = ByteBuffer.allocate(SMALL_READ);
            for (int i = 0; i < SMALL_READ; i++) {
                pattern.put(i, (byte) (i * 31 + 7));
            }
            long offset = size / 2 / SMALL_READ * SMALL_READ;
            client.write(offset, pattern);
            client.flush();
            ByteBuffer back = client.readBatch(new long[] {offset}, new int[] {SMALL_READ});
            if (!back.equals(pattern.rewind())) {
                throw new IOException("a write at offset " + offset + " of the export of " + image + " did not read back");
            }
            bytes += SMALL_READ;
        }
        return bytes;
    }

    /** {@code count} consecutive offsets {@code step} apart from {@code start}, those inside the disk. */
    private static long[] offsets(long start, int step, int count, long size) {
        int inside = (int) Math.max(0, Math.min(count, (size - start) / step));
        long[] offsets = new long[inside];
        for (int i = 0; i < inside; i++) {
            offsets[i] = start + (long) i * step;
        }
        return offsets;
    }

    private static long readAndCompare(NbdClient client, VirtualDisk direct, Path image, long[] offsets, int length)
            throws IOException {
        if (offsets.length == 0) {
            return 0;
        }
        int[] lengths = new int[offsets.length];
        java.util.Arrays.fill(lengths, length);
        ByteBuffer served = client.readBatch(offsets, lengths);
        ByteBuffer expected = ByteBuffer.allocate(length);
        for (int i = 0; i < offsets.length; i++) {
            expected.clear();
            direct.read(offsets[i], expected);
            if (!expected.flip().equals(served.slice(i * length, length))) {
                throw new IOException("the export of " + image + " served other bytes at offset " + offsets[i]
                        + " than the image holds");
            }
        }
        return (long) offsets.length * length;
    }
}
