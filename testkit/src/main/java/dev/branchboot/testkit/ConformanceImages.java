package dev.branchboot.testkit;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The conformance set: QCOW2 images made by {@code qemu-img} and {@code qemu-io} covering every kind
 * of image the reader must handle, each with its reference raw bytes made by
 * {@code qemu-img convert -O raw}. Built once into a directory shared by the modules' tests (the
 * system property {@code branchboot.conformance.dir}) and reused while the recipe version matches.
 */
public final class ConformanceImages {
    /** Bump when a recipe changes, so stale sets are rebuilt. */
    private static final String RECIPE_VERSION = "5";
    private static final long MIB = 1L << 20;

    private ConformanceImages() {
    }

    /** One image of the set. */
    public record TestImage(String name, Path image, Path reference, long virtualSize, boolean hugeSparse) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static List<TestImage> cached;

    /** The whole set, built on first use. */
    public static synchronized List<TestImage> all() throws IOException {
        if (cached == null) {
            cached = build(directory());
        }
        return cached;
    }

    /** The images small enough to read whole in a unit test (everything but the huge sparse one). */
    public static List<TestImage> regular() throws IOException {
        return all().stream().filter(i -> !i.hugeSparse()).toList();
    }

    /** One image by name. */
    public static TestImage named(String name) throws IOException {
        return all().stream().filter(i -> i.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no conformance image " + name));
    }

    /** Where the set lives. */
    public static Path directory() {
        String configured = System.getProperty("branchboot.conformance.dir");
        Path base = configured != null ? Path.of(configured) : Path.of(System.getProperty("java.io.tmpdir"), "branchboot-conformance");
        return base.resolve("v" + RECIPE_VERSION);
    }

    private static List<TestImage> build(Path dir) throws IOException {
        Path done = dir.resolve(".complete");
        Recipes recipes = new Recipes(dir);
        if (!Files.exists(done)) {
            if (Files.exists(dir)) {
                deleteTree(dir);
            }
            Files.createDirectories(dir);
            recipes.make();
            Files.writeString(done, "complete\n");
        }
        return recipes.list();
    }

    /** Writes {@code size} bytes of disk-like content: text, random bytes, zero runs, patterns. */
    public static void writeMixedContent(Path file, long size, long seed) throws IOException {
        Random random = new Random(seed);
        byte[] block = new byte[4096];
        String[] words = {"kernel", "boot", "initramfs", "branch", "image", "cluster", "the", "of", "and", "disk", "lab", "PC",
                "network", "university", "compressed", "qcow2", "library", "module", "0x7f3a", "usr/lib"};
        try (OutputStream out = Files.newOutputStream(file)) {
            long written = 0;
            int kind = 0;
            while (written < size) {
                if ((written & (64 * 1024 - 1)) == 0) {
                    kind = random.nextInt(10);
                }
                switch (kind) {
                    case 0, 1, 2, 3 -> {
                        StringBuilder text = new StringBuilder(4200);
                        while (text.length() < block.length) {
                            text.append(words[random.nextInt(words.length)]).append(random.nextInt(7) == 0 ? '\n' : ' ');
                        }
                        System.arraycopy(text.toString().getBytes(StandardCharsets.US_ASCII), 0, block, 0, block.length);
                    }
                    case 4, 5 -> random.nextBytes(block);
                    case 6, 7 -> java.util.Arrays.fill(block, (byte) 0);
                    case 8 -> {
                        for (int i = 0; i < block.length; i++) {
                            block[i] = (byte) (i * 7 + written / 4096);
                        }
                    }
                    default -> {
                        java.util.Arrays.fill(block, (byte) 0);
                        block[random.nextInt(block.length)] = (byte) (1 + random.nextInt(255));
                    }
                }
                int n = (int) Math.min(block.length, size - written);
                out.write(block, 0, n);
                written += n;
            }
        }
    }

    /**
     * Writes mixed disk-like content for benchmarks: {@code FILE SIZE_IN_MIB SEED}, or builds the
     * conformance set with {@code --build}.
     */
    public static void main(String[] args) throws IOException {
        if (args.length == 1 && args[0].equals("--build")) {
            System.out.println(all().size() + " images in " + directory());
            return;
        }
        if (args.length != 3) {
            System.err.println("usage: ConformanceImages FILE SIZE_IN_MIB SEED | --build");
            System.exit(2);
        }
        writeMixedContent(Path.of(args[0]), Long.parseLong(args[1]) * MIB, Long.parseLong(args[2]));
    }

    /** Runs a command, failing with its output when it exits non-zero. */
    public static String run(Path workDir, String... command) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(workDir.toFile()).redirectErrorStream(true);
        Process process;
        try {
            process = pb.start();
        } catch (IOException e) {
            throw new IOException("cannot run " + command[0] + " (is qemu-utils installed? .ci/run installs it): " + e.getMessage(), e);
        }
        byte[] output = process.getInputStream().readAllBytes();
        try {
            if (!process.waitFor(10, TimeUnit.MINUTES)) {
                process.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", command));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", command), e);
        }
        String text = new String(output, StandardCharsets.UTF_8);
        if (process.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " exited with " + process.exitValue() + ":\n" + text);
        }
        return text;
    }

    static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** The recipes: how each image is made, and the list of what they make. */
    private static final class Recipes {
        private final Path dir;
        private final List<TestImage> images = new ArrayList<>();
        private boolean making;

        Recipes(Path dir) {
            this.dir = dir;
        }

        void make() throws IOException {
            making = true;
            walk();
        }

        List<TestImage> list() throws IOException {
            if (images.isEmpty()) {
                making = false;
                walk();
            }
            return List.copyOf(images);
        }

        private void walk() throws IOException {
            raw("mixed-8m.raw", 8 * MIB, 1);
            raw("mixed-16m.raw", 16 * MIB, 2);
            raw("mixed-1m.raw", MIB, 3);
            raw("odd.raw", 3 * MIB + 1536, 4);

            // Compressed images as qemu-img convert -c writes them, every cluster size, both algorithms.
            for (String type : List.of("zlib", "zstd")) {
                for (String cluster : List.of("512", "1k", "4k", "16k", "64k", "256k", "2m")) {
                    String source = cluster.equals("512") || cluster.equals("1k") ? "mixed-1m.raw"
                            : cluster.equals("2m") ? "mixed-16m.raw" : "mixed-8m.raw";
                    image(type + "-" + cluster, "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o",
                            "cluster_size=" + cluster + ",compression_type=" + type, source, type + "-" + cluster + ".qcow2");
                }
            }
            image("plain-64k", "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "mixed-8m.raw", "plain-64k.qcow2");
            image("v2-compressed", "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "compat=0.10",
                    "mixed-8m.raw", "v2-compressed.qcow2");
            image("v2-plain-4k", "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "compat=0.10,cluster_size=4k",
                    "mixed-1m.raw", "v2-plain-4k.qcow2");
            image("odd-size-zlib", "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "odd.raw", "odd-size-zlib.qcow2");
            image("odd-size-zstd-2m", "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o",
                    "cluster_size=2m,compression_type=zstd", "odd.raw", "odd-size-zstd-2m.qcow2");
            steps("odd-size-written", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "odd-size-written.qcow2", "1000000"),
                    io("odd-size-written.qcow2", "write -P 0x5a 0 4096", "write -P 0x6b 999000 1000",
                            "write -c -P 0x7c 65536 65536")));

            // Zero clusters: plain (no offset) and preallocated (offset kept), v3 only.
            steps("zero-clusters", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "zero-clusters.qcow2", "4M"),
                    io("zero-clusters.qcow2", "write -P 0xab 0 1M", "write -z 64k 64k", "write -z -u 256k 128k",
                            "write -z 2M 192k", "write -P 0xcd 3M 8k", "write -z 3M 4k")));
            steps("preallocated-metadata", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", "preallocated-metadata.qcow2", "2M"),
                    io("preallocated-metadata.qcow2", "write -P 0x11 100k 10k", "write -z 512k 64k")));
            steps("preallocated-full-4k", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=falloc,cluster_size=4k",
                            "preallocated-full-4k.qcow2", "1M"),
                    io("preallocated-full-4k.qcow2", "write -P 0x22 8k 4k", "write -z 16k 8k")));

            // Extended L2 entries (subclusters), alone and over a backing file.
            steps("extended-l2", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=64k", "extended-l2.qcow2", "4M"),
                    io("extended-l2.qcow2", "write -P 0x31 0 2k", "write -P 0x32 6k 2k", "write -z 10k 4k",
                            "write -P 0x33 100k 100k", "write -z -u 130k 2k", "write -c -P 0x34 1M 64k",
                            "write -P 0x35 2M 64k", "write -z 2M 8k")));
            steps("extended-l2-zstd-2m", List.of(
                    cmd("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o",
                            "extended_l2=on,cluster_size=2m,compression_type=zstd", "mixed-16m.raw", "extended-l2-zstd-2m.qcow2"),
                    io("extended-l2-zstd-2m.qcow2", "write -P 0x41 4M 64k", "write -z 6M 64k")));

            // Dirty and lazy-refcount images, and internal snapshots.
            steps("lazy-refcounts", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", "lazy-refcounts.qcow2", "2M"),
                    io("lazy-refcounts.qcow2", "write -P 0x51 0 300k")));
            steps("dirty", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", "dirty.qcow2", "2M"),
                    ioIgnoringExit("dirty.qcow2", "write -P 0x61 0 200k", "write -P 0x62 1M 64k", "abort")));
            steps("snapshots", List.of(
                    cmd("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "mixed-1m.raw", "snapshots.qcow2"),
                    cmd("qemu-img", "snapshot", "-c", "first", "snapshots.qcow2"),
                    io("snapshots.qcow2", "write -P 0x71 0 64k", "write -z 128k 64k"),
                    cmd("qemu-img", "snapshot", "-c", "second", "snapshots.qcow2"),
                    io("snapshots.qcow2", "write -P 0x72 512k 4k")));

            // Backing chains.
            image("base-zlib", "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "mixed-8m.raw", "base-zlib.qcow2");
            steps("chain-mid", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base-zlib.qcow2", "-F", "qcow2", "chain-mid.qcow2"),
                    io("chain-mid.qcow2", "write -P 0x81 64k 64k", "write -z 1M 256k", "write -P 0x82 3M 1k")));
            steps("chain-top", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-b", "chain-mid.qcow2", "-F", "qcow2", "-o",
                            "compression_type=zstd", "chain-top.qcow2"),
                    io("chain-top.qcow2", "write -P 0x83 0 4k", "write -c -P 0x84 2M 64k", "write -z -u 64k 64k")));
            steps("chain-v2-over-v3", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "chain-mid.qcow2", "-F", "qcow2",
                            "chain-v2-over-v3.qcow2"),
                    io("chain-v2-over-v3.qcow2", "write -P 0x85 5M 100k", "write -z 128k 64k")));
            steps("chain-raw-base", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-b", "mixed-1m.raw", "-F", "raw", "chain-raw-base.qcow2"),
                    io("chain-raw-base.qcow2", "write -P 0x91 4k 4k", "write -z 100k 50k")));
            steps("chain-short-base", List.of(
                    cmd("qemu-img", "convert", "-f", "raw", "-O", "qcow2", "mixed-1m.raw", "short-base.qcow2"),
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-b", "short-base.qcow2", "-F", "qcow2",
                            "chain-short-base.qcow2", "4M"),
                    io("chain-short-base.qcow2", "write -P 0xa1 900k 200k", "write -P 0xa2 3M 4k")));
            steps("chain-extended-l2", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base-zlib.qcow2", "-F", "qcow2", "-o",
                            "extended_l2=on", "chain-extended-l2.qcow2"),
                    io("chain-extended-l2.qcow2", "write -P 0xb1 2k 2k", "write -P 0xb2 70k 1k", "write -z 200k 6k",
                            "write -z -u 300k 64k")));
            if (making) {
                Files.createDirectories(dir.resolve("sub/bases"));
                Files.createDirectories(dir.resolve("sub/images"));
                Files.copy(dir.resolve("base-zlib.qcow2"), dir.resolve("sub/bases/base-zlib.qcow2"));
            }
            steps("sub/images/chain-relative", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "-b", "../bases/base-zlib.qcow2", "-F", "qcow2",
                            "sub/images/chain-relative.qcow2"),
                    io("sub/images/chain-relative.qcow2", "write -P 0xc1 1M 4k")));
            absoluteBackingMoved();

            // Large images: a 256 MiB compressed disk, and a 64 GiB sparse one with a few MiB of data.
            raw("mixed-256m.raw", 256 * MIB, 6);
            image("large-zlib-256m", "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "mixed-256m.raw",
                    "large-zlib-256m.qcow2");
            if (making) {
                Files.delete(dir.resolve("mixed-256m.raw"));
            }
            steps("sparse-64g", List.of(
                    cmd("qemu-img", "create", "-q", "-f", "qcow2", "sparse-64g.qcow2", "64G"),
                    io("sparse-64g.qcow2", "write -P 0xe1 0 1M", "write -P 0xe2 1G 64k", "write -c -P 0xe3 17G 64k",
                            "write -P 0xe4 40000000000 3M", "write -z 40001000000 64k", "write -P 0xe5 68719411200 65536")));
            images.set(images.size() - 1, new TestImage("sparse-64g", dir.resolve("sparse-64g.qcow2"),
                    dir.resolve("sparse-64g.qcow2.ref.raw"), 64L << 30, true));
        }

        /** An image made by {@code qemu-img create} with an absolute backing path, then moved away. */
        private void absoluteBackingMoved() throws IOException {
            if (making) {
                Path original = dir.resolve("absolute-original");
                Files.createDirectories(original);
                Files.copy(dir.resolve("base-zlib.qcow2"), original.resolve("abs-base.qcow2"));
                Path top = original.resolve("abs-top.qcow2");
                run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", original.resolve("abs-base.qcow2").toAbsolutePath().toString(),
                        "-F", "qcow2", top.toString());
                run(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0xf1 8k 8k", top.toString());
                Path moved = dir.resolve("absolute-moved");
                Files.createDirectories(moved);
                run(dir, "qemu-img", "convert", "-O", "raw", top.toString(), moved.resolve("abs-top.qcow2.ref.raw").toString());
                Files.move(original.resolve("abs-base.qcow2"), moved.resolve("abs-base.qcow2"), StandardCopyOption.ATOMIC_MOVE);
                Files.move(top, moved.resolve("abs-top.qcow2"), StandardCopyOption.ATOMIC_MOVE);
                Files.delete(original);
            }
            Path image = dir.resolve("absolute-moved/abs-top.qcow2");
            images.add(new TestImage("absolute-backing-moved", image, dir.resolve("absolute-moved/abs-top.qcow2.ref.raw"), 8 * MIB, false));
        }

        private void raw(String name, long size, long seed) throws IOException {
            if (making) {
                writeMixedContent(dir.resolve(name), size, seed);
            }
        }

        private void image(String name, String... command) throws IOException {
            steps(name, java.util.Collections.singletonList(command));
        }

        private void steps(String name, List<String[]> commands) throws IOException {
            Path image = dir.resolve(name + ".qcow2");
            Path reference = dir.resolve(name + ".qcow2.ref.raw");
            if (making) {
                for (String[] command : commands) {
                    if (command.length > 0 && command[0].equals("!ignore-exit")) {
                        try {
                            run(dir, java.util.Arrays.copyOfRange(command, 1, command.length));
                        } catch (IOException expected) {
                            // qemu-io's "abort" kills it on purpose, leaving the image dirty.
                        }
                    } else {
                        run(dir, command);
                    }
                }
                run(dir, "qemu-img", "convert", "-O", "raw", image.toString(), reference.toString());
            }
            images.add(new TestImage(name.substring(name.lastIndexOf('/') + 1), image, reference, Files.size(reference), false));
        }

        private static String[] cmd(String... command) {
            return command;
        }

        private static String[] io(String image, String... commands) {
            List<String> command = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
            for (String c : commands) {
                command.add("-c");
                command.add(c);
            }
            command.add(image);
            return command.toArray(String[]::new);
        }

        private static String[] ioIgnoringExit(String image, String... commands) {
            List<String> command = new ArrayList<>(List.of("!ignore-exit"));
            command.addAll(List.of(io(image, commands)));
            return command.toArray(String[]::new);
        }
    }
}
