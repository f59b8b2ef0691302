package dev.branchboot.agent.cli;

import dev.branchboot.qcow2.DiskImages;
import dev.branchboot.qcow2.ImageFormat;
import dev.branchboot.qcow2.ImageOptions;
import dev.branchboot.qcow2.VirtualDisk;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The image a command reads, and its format, shared by every command that opens one. */
public final class ImageArgument {

    @Parameters(index = "0", paramLabel = "IMAGE", description = "The image file.")
    Path image;

    @Option(names = {"-f", "--format"}, paramLabel = "FORMAT",
            description = "Format of IMAGE: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}). "
                    + "The format is never guessed, so a damaged QCOW2 header is an error, not a raw disk.")
    ImageFormat format = ImageFormat.QCOW2;

    /** Opens the image with its backing chain. */
    public VirtualDisk open(ImageOptions options) throws IOException {
        return DiskImages.open(image, format, options);
    }
}
