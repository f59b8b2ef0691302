package dev.branchboot.agent.attach;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code nbd-client} (3.24 and later) command lines that connect a device to the agent's unix
 * socket with the settings a root disk needs, and disconnect it.
 *
 * <ul>
 *   <li>{@code -unix SOCKET DEVICE -N EXPORT}: the agent's socket and the export by name.</li>
 *   <li>{@code -b 512} (by default): 512-byte logical blocks, as nbd-client's own default and
 *       Debian's nbdroot script. A partition table (MBR or GPT) counts in logical blocks, and the
 *       images of PCs have tables written for 512-byte sectors: with 4 KiB blocks the kernel
 *       looks for the GPT header at byte 4096 and finds no partitions. A filesystem's block size
 *       must be at least the device's, so 4096 also refuses filesystems with 1 KiB blocks.</li>
 *   <li>{@code -t SECONDS}: the kernel's per-request timeout. When it expires the kernel marks the
 *       only connection dead and fails every request with EIO, so it is set longer than the agent
 *       itself ever takes to answer: the agent retries network faults until its
 *       {@code --retry-deadline} and answers EIO for that one request after it.</li>
 *   <li>{@code -systemd-mark}: nbd-client's own process starts with {@code @} in argv[0] (matters
 *       only with {@code -nonetlink}, where it stays as a daemon).</li>
 *   <li>By default netlink (nbd-client's default): the kernel owns the socket and nbd-client exits;
 *       {@code -persist} would have no effect there. With {@code ioctl} set, {@code -nonetlink
 *       -persist} keep an nbd-client daemon that reconnects when the connection breaks.</li>
 *   <li>{@code -C N}: several connections (the agent advertises CAN_MULTI_CONN).</li>
 * </ul>
 *
 * @param nbdClient   the nbd-client program
 * @param socket      the agent's unix socket
 * @param device      the device to connect
 * @param exportName  the export's name
 * @param blockSize   logical block size: 512, 1024, 2048 or 4096
 * @param timeout     the kernel's request timeout; zero for none
 * @param connections number of connections, at least 1
 * @param ioctl       use the ioctl interface with {@code -persist} instead of netlink
 */
public record NbdClientCommand(String nbdClient, Path socket, NbdDevice device, String exportName, int blockSize,
                               Duration timeout, int connections, boolean ioctl) {

    /** Checks the values nbd-client would refuse with a less clear message. */
    public NbdClientCommand {
        if (blockSize < 512 || blockSize > 4096 || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("block size must be 512, 1024, 2048 or 4096, not " + blockSize);
        }
        if (connections < 1) {
            throw new IllegalArgumentException("connections must be at least 1, not " + connections);
        }
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("timeout must not be negative");
        }
    }

    /**
     * The kernel request timeout for a root disk served by an agent that retries until
     * {@code retryDeadline}, each try taking up to {@code requestTimeout}: both, plus 30 s of slack,
     * rounded up to whole seconds. The agent's own error then always comes first.
     */
    public static Duration rootDiskTimeout(Duration retryDeadline, Duration requestTimeout) {
        Duration total = retryDeadline.plus(requestTimeout).plusSeconds(30);
        long seconds = total.getSeconds() + (total.getNano() > 0 ? 1 : 0);
        return Duration.ofSeconds(seconds);
    }

    /** The command line that connects the device. */
    public List<String> connect() {
        List<String> cmd = new ArrayList<>();
        cmd.add(nbdClient);
        cmd.add("-unix");
        cmd.add(socket.toString());
        cmd.add(device.path().toString());
        cmd.add("-N");
        cmd.add(exportName);
        cmd.add("-b");
        cmd.add(Integer.toString(blockSize));
        if (!timeout.isZero()) {
            long seconds = timeout.getSeconds() + (timeout.getNano() > 0 ? 1 : 0);
            cmd.add("-t");
            cmd.add(Long.toString(seconds));
        }
        if (connections > 1) {
            cmd.add("-C");
            cmd.add(Integer.toString(connections));
        }
        if (ioctl) {
            cmd.add("-nonetlink");
            cmd.add("-persist");
        }
        cmd.add("-systemd-mark");
        return cmd;
    }

    /** The command line that disconnects {@code device}. */
    public static List<String> disconnect(String nbdClient, NbdDevice device) {
        return List.of(nbdClient, "-d", device.path().toString());
    }
}
