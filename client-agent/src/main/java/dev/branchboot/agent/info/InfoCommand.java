package dev.branchboot.agent.info;

import dev.branchboot.agent.cli.Json;
import dev.branchboot.agent.cli.ImageArgument;
import dev.branchboot.qcow2.ImageInfo;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.qcow2.VirtualDisk;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/** {@code info IMAGE [--json]}: what {@code qemu-img info} says, plus how the image stores its clusters. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = {"Shows an image's format, virtual size, cluster size, compression, backing chain",
                "and how its clusters are stored (data, compressed, zero, unallocated)."})
public final class InfoCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ImageArgument image;

    @Option(names = "--json", description = "Print JSON with qemu-img's key names where the meaning is the same.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ImageInfo info;
        try (VirtualDisk disk = image.open(ImageOptions.DEFAULTS)) {
            info = disk.info();
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? Json.write(InfoReport.toJson(info)) + "\n" : InfoReport.toText(info));
        out.flush();
        return 0;
    }
}
