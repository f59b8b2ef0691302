package dev.branchboot.agent.blockdev;

import java.io.IOException;

/** A write, trim or zero reached a device that only reads (NBD answers EPERM). */
public final class ReadOnlyDeviceException extends IOException {
    private static final long serialVersionUID = 1L;

    /** An error naming the device and the refused range. */
    public ReadOnlyDeviceException(String device, String operation, long offset, long length) {
        super(device + ": " + operation + " at offset " + offset + " (" + length + " bytes) refused: the export is read-only");
    }
}
