package dev.branchboot.qcow2;

/** The algorithm of an image's compressed clusters (header byte 104). */
public enum CompressionType {
    /** Raw deflate (RFC 1951); qemu calls it "zlib". */
    DEFLATE("zlib"),
    /** Zstandard frames (RFC 8878). */
    ZSTD("zstd");

    private final String qemuName;

    CompressionType(String qemuName) {
        this.qemuName = qemuName;
    }

    /** The name {@code qemu-img} uses for it ({@code compression_type=...}). */
    public String qemuName() {
        return qemuName;
    }
}
