package dev.branchboot.agent.blockdev;

import java.io.IOException;

/** A write needed storage the device does not have (NBD answers ENOSPC). */
public final class DeviceFullException extends IOException {
    private static final long serialVersionUID = 1L;

    /** An error naming the device, the offset of the refused write and why there was no room. */
    public DeviceFullException(String device, long offset, String cause) {
        super(device + ": write at offset " + offset + " refused: " + cause);
    }
}
