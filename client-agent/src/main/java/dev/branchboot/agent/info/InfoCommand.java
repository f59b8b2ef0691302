package dev.branchboot.agent.info;

import dev.branchboot.agent.cli.AgentCommand;
import dev.branchboot.agent.cli.CommandSpec;
import dev.branchboot.agent.cli.ImageArgument;
import dev.branchboot.agent.cli.Json;
import dev.branchboot.agent.cli.ParsedArguments;
import dev.branchboot.qcow2.ImageInfo;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.qcow2.VirtualDisk;
import java.io.PrintStream;

/** {@code info IMAGE [--json]}: what {@code qemu-img info} says, plus how the image stores its clusters. */
public final class InfoCommand implements AgentCommand {
    private static final CommandSpec SPEC = ImageArgument.declare(new CommandSpec("info",
            "Shows an image's format, virtual size, cluster size, compression, backing chain",
            "and how its clusters are stored (data, compressed, zero, unallocated)."))
            .flag("--json", "Print JSON, with qemu-img's key names where the meaning is the same.");

    @Override
    public CommandSpec spec() {
        return SPEC;
    }

    @Override
    public int run(ParsedArguments args, PrintStream out, PrintStream err) throws Exception {
        ImageInfo info;
        try (ImageArgument.Opened opened = ImageArgument.open(args, ImageOptions.DEFAULTS)) {
            VirtualDisk disk = opened.disk();
            info = disk.info();
        }
        out.print(args.flag("--json") ? Json.write(InfoReport.toJson(info)) + "\n" : InfoReport.toText(info));
        return 0;
    }
}
