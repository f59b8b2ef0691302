package dev.branchboot.agent.cli;

import dev.branchboot.qcow2.DiskImages;
import dev.branchboot.qcow2.ImageFormat;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.qcow2.VirtualDisk;
import java.io.IOException;
import java.nio.file.Path;

/** The image a command reads, and its format, shared by every command that opens one. */
public final class ImageArgument {
    private ImageArgument() {
    }

    /** Declares IMAGE (the first positional) and {@code --format} on {@code spec}. */
    public static CommandSpec declare(CommandSpec spec) {
        return spec.positional("IMAGE", "The image file.")
                .option("-f, --format", "FORMAT", "Format of IMAGE: qcow2 or raw (default: qcow2). The format is never guessed, "
                        + "so a damaged QCOW2 header is an error, not a raw disk.");
    }

    /** Opens the image named on the command line, with its backing chain. */
    public static VirtualDisk open(ParsedArguments args, ImageOptions options) throws IOException, UsageException {
        String image = args.positional(0);
        if (image.isEmpty() || image.indexOf('\0') >= 0) {
            throw new UsageException("IMAGE must be a file name");
        }
        ImageFormat format = args.choice("--format", ImageFormat.class, ImageFormat.QCOW2);
        return DiskImages.open(Path.of(image), format, options);
    }
}
