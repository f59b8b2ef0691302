package dev.branchboot.agent.nbd;

import dev.branchboot.agent.blockdev.BlockDevice;

/**
 * What the server exports: one block device under one name, also reachable as the default (empty)
 * name. Every connection to it shares the device, and so the overlay.
 *
 * @param name   the export name clients ask for
 * @param device the top layer of the stack
 */
public record NbdExport(String name, BlockDevice device) {

    /** Whether {@code requested} names this export ("" is the default export). */
    boolean answersTo(String requested) {
        return requested.isEmpty() || requested.equals(name);
    }

    /**
     * The transmission flags for a connection. CAN_MULTI_CONN is safe because every connection
     * goes through the same overlay: a write completed on one is seen by reads on all, and FLUSH
     * on any of them makes all completed writes durable.
     */
    int transmissionFlags(boolean structuredReplies) {
        int flags = NbdProtocol.TF_HAS_FLAGS | NbdProtocol.TF_SEND_FLUSH | NbdProtocol.TF_SEND_FUA
                | NbdProtocol.TF_SEND_CACHE | NbdProtocol.TF_CAN_MULTI_CONN;
        if (device.writable()) {
            flags |= NbdProtocol.TF_SEND_TRIM | NbdProtocol.TF_SEND_WRITE_ZEROES | NbdProtocol.TF_SEND_FAST_ZERO;
        } else {
            flags |= NbdProtocol.TF_READ_ONLY;
        }
        if (structuredReplies) {
            flags |= NbdProtocol.TF_SEND_DF;
        }
        return flags;
    }
}
