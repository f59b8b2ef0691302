package dev.branchboot.agent.cat;

import dev.branchboot.agent.cli.AgentCommand;
import dev.branchboot.agent.cli.CommandSpec;
import dev.branchboot.agent.cli.ImageArgument;
import dev.branchboot.agent.cli.ParsedArguments;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.qcow2.VirtualDisk;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/** {@code cat IMAGE [--output FILE]}: the whole virtual disk as raw bytes. */
public final class CatCommand implements AgentCommand {
    private static final int CORES = Math.max(1, Runtime.getRuntime().availableProcessors());
    private static final CommandSpec SPEC = ImageArgument.declare(new CommandSpec("cat",
            "Writes the whole virtual disk as raw bytes, to standard output or to a file.",
            "A regular output file is written sparse (holes are skipped) under a temporary name",
            "and renamed into place when complete, so an interrupted run never leaves a partial file."))
            .option("-o, --output", "FILE", "Write to FILE instead of standard output (a block device is written in place).")
            .flag("-p, --progress", "Show progress on standard error.")
            .flag("--sync", "Make the output file durable (fsync) before renaming it into place. Off by default, as with cp "
                    + "and qemu-img; the rename alone already keeps a crash from leaving a partial file.")
            .option("--threads", "N", "Reader and decompression threads (default: the number of cores, " + CORES + ").")
            .option("--chunk-size", "SIZE", "Bytes read per task (default: 4M).");

    @Override
    public CommandSpec spec() {
        return SPEC;
    }

    @Override
    public int run(ParsedArguments args, PrintStream out, PrintStream err) throws Exception {
        int threads = args.integer("--threads", CORES, 1, 256);
        long chunkSize = args.size("--chunk-size", 4L << 20, 4096, 256L << 20);
        Path output = args.path("--output");
        ProgressReporter reporter = args.flag("--progress") ? new ProgressReporter(new PrintWriter(err, true)) : ProgressReporter.NONE;
        try (ImageArgument.Opened opened = ImageArgument.open(args, ImageOptions.DEFAULTS)) {
            VirtualDisk disk = opened.disk();
            DiskCopier copier = new DiskCopier(disk, threads, (int) chunkSize, args.flag("--sync"), reporter);
            if (output == null) {
                out.flush();
                copier.copyToStream(out == System.out ? new FileOutputStream(FileDescriptor.out).getChannel()
                        : java.nio.channels.Channels.newChannel(out));
            } else {
                copier.copyToPath(output);
            }
        } finally {
            reporter.finish();
        }
        return 0;
    }
}
