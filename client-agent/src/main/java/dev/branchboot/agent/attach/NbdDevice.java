package dev.branchboot.agent.attach;

import dev.branchboot.agent.cli.ParsedArguments;
import dev.branchboot.agent.cli.UsageException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A kernel NBD device ({@code /dev/nbd0}) and the files that go with it: the agent's socket and pid
 * file under {@code /run/branchboot/}, named after the device, and the kernel's
 * {@code /sys/block/nbdN/pid}, which exists while the device is connected.
 *
 * @param path the device node, e.g. {@code /dev/nbd0}
 */
public record NbdDevice(Path path) {

    /** The default folder for sockets and pid files: /run survives switch-root (it is moved). */
    public static final Path RUN_DIR = Path.of("/run/branchboot");

    /**
     * Parses {@code --device}: {@code /dev/nbdN}, or {@code nbdN} for short.
     *
     * @throws IllegalArgumentException when it is not an NBD device name
     */
    public static NbdDevice parse(String text) {
        String full = text.startsWith("/") ? text : "/dev/" + text;
        Path path = Path.of(full);
        String name = path.getFileName() == null ? "" : path.getFileName().toString();
        if (!name.matches("nbd[0-9]+")) {
            throw new IllegalArgumentException("'" + text + "' is not an NBD device (use /dev/nbdN)");
        }
        return new NbdDevice(path);
    }

    /**
     * The device named by the required option {@code --device} of {@code attach} and {@code detach}.
     *
     * @throws UsageException when the option is missing or names no NBD device
     */
    static NbdDevice fromOption(ParsedArguments args) throws UsageException {
        String text = args.string("--device", null);
        if (text == null) {
            throw new UsageException("Missing required option: '--device=DEVICE'");
        }
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new UsageException("Invalid value for option '--device': " + e.getMessage());
        }
    }

    /** The kernel's name, e.g. {@code nbd0}. */
    public String name() {
        return path.getFileName().toString();
    }

    /** Where the agent listens for this device by default: {@code /run/branchboot/nbd0.sock}. */
    public Path defaultSocket() {
        return RUN_DIR.resolve(name() + ".sock");
    }

    /** Where {@code attach} records the agent's pid by default: {@code /run/branchboot/nbd0.pid}. */
    public Path defaultPidFile() {
        return RUN_DIR.resolve(name() + ".pid");
    }

    /** True while the kernel has this device connected (it then shows {@code /sys/block/nbdN/pid}). */
    public boolean connected() {
        return Files.exists(Path.of("/sys/block", name(), "pid"));
    }

    @Override
    public String toString() {
        return path.toString();
    }
}
