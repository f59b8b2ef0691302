package dev.branchboot.qcow2;

import java.util.Locale;

/** The formats this reader opens. */
public enum ImageFormat {
    /** QCOW2, versions 2 and 3. */
    QCOW2,
    /** A raw disk image: the file is the disk. */
    RAW;

    /** The lower-case name used by qemu ("qcow2", "raw"). */
    public String qemuName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The format named by a QCOW2 backing-format extension, or {@code null} if it is not one of ours. */
    static ImageFormat fromQemuName(String name) {
        for (ImageFormat format : values()) {
            if (format.qemuName().equals(name)) {
                return format;
            }
        }
        return null;
    }
}
