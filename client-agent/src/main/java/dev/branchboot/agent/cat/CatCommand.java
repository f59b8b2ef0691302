package dev.branchboot.agent.cat;

import dev.branchboot.agent.cli.ByteSizes;
import dev.branchboot.agent.cli.ImageArgument;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.qcow2.VirtualDisk;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintWriter;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code cat IMAGE [--output FILE]}: the whole virtual disk as raw bytes. */
@Command(name = "cat", mixinStandardHelpOptions = true,
        description = {"Writes the whole virtual disk as raw bytes, to standard output or to a file.",
                "A regular output file is written sparse (holes are skipped) under a temporary name",
                "and renamed into place when complete, so an interrupted run never leaves a partial file."})
public final class CatCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ImageArgument image;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE",
            description = "Write to FILE instead of standard output (a block device is written in place).")
    Path output;

    @Option(names = {"-p", "--progress"}, description = "Show progress on standard error.")
    boolean progress;

    @Option(names = "--threads", paramLabel = "N", description = "Reader and decompression threads (default: ${DEFAULT-VALUE}).")
    int threads = Math.max(1, Runtime.getRuntime().availableProcessors());

    @Option(names = "--chunk-size", paramLabel = "SIZE", converter = ByteSizes.Converter.class,
            description = "Bytes read per task (default: 4M).")
    long chunkSize = 4L << 20;

    @Override
    public Integer call() throws Exception {
        if (threads < 1 || threads > 256) {
            throw new ParameterException(spec.commandLine(), "--threads must be between 1 and 256");
        }
        if (chunkSize < 4096 || chunkSize > (256L << 20)) {
            throw new ParameterException(spec.commandLine(), "--chunk-size must be between 4K and 256M");
        }
        PrintWriter err = spec.commandLine().getErr();
        ProgressReporter reporter = progress ? new ProgressReporter(err) : ProgressReporter.NONE;
        try (VirtualDisk disk = image.open(ImageOptions.DEFAULTS)) {
            DiskCopier copier = new DiskCopier(disk, threads, (int) chunkSize, reporter);
            if (output == null) {
                FileChannel stdout = new FileOutputStream(FileDescriptor.out).getChannel();
                copier.copyToStream(stdout);
            } else {
                copier.copyToPath(output);
            }
        } finally {
            reporter.finish();
        }
        return 0;
    }
}
