package dev.branchboot.qcow2;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The parsed and validated QCOW2 header with its extensions. Every check that qemu makes at open
 * time and that matters to a reader is made here, so the rest of the reader can trust these fields.
 */
public record Qcow2Header(
        int version,
        int clusterBits,
        long virtualSize,
        int l1Size,
        long l1TableOffset,
        long refcountTableOffset,
        int snapshotCount,
        long incompatibleFeatures,
        long compatibleFeatures,
        long autoclearFeatures,
        int refcountOrder,
        int headerLength,
        CompressionType compressionType,
        String backingFileName,
        String backingFormat) {

    /** The magic bytes "QFI\xfb". */
    public static final int MAGIC = 0x514649FB;
    /** The smallest cluster size qemu supports (512 B). */
    public static final int MIN_CLUSTER_BITS = 9;
    /** The largest cluster size qemu supports (2 MiB). */
    public static final int MAX_CLUSTER_BITS = 21;
    /** qemu's cap on the active L1 table, in bytes. */
    public static final long MAX_L1_BYTES = 32L << 20;

    /** Incompatible feature: the image was not closed cleanly (refcounts may be stale). */
    public static final long INCOMPAT_DIRTY = 1L;
    /** Incompatible feature: qemu found corruption; readable, never writable. */
    public static final long INCOMPAT_CORRUPT = 1L << 1;
    /** Incompatible feature: guest data lives in an external file. */
    public static final long INCOMPAT_DATA_FILE = 1L << 2;
    /** Incompatible feature: the compression type byte is present and not deflate. */
    public static final long INCOMPAT_COMPRESSION = 1L << 3;
    /** Incompatible feature: 128-bit L2 entries with 32 subclusters. */
    public static final long INCOMPAT_EXTENDED_L2 = 1L << 4;
    private static final long INCOMPAT_KNOWN = 0x1F;
    /** Compatible feature: lazy refcounts. */
    public static final long COMPAT_LAZY_REFCOUNTS = 1L;

    private static final int EXT_END = 0;
    private static final int EXT_BACKING_FORMAT = 0xE2792ACA;
    private static final int EXT_FEATURE_TABLE = 0x6803F857;
    private static final int EXT_CRYPTO = 0x0537BE77;
    private static final int EXT_DATA_FILE = 0x44415441;
    private static final int MAX_BACKING_NAME = 1023;

    /** Cluster size in bytes. */
    public int clusterSize() {
        return 1 << clusterBits;
    }

    /** True when L2 entries are 128 bits with subcluster bitmaps. */
    public boolean extendedL2() {
        return (incompatibleFeatures & INCOMPAT_EXTENDED_L2) != 0;
    }

    /** Bits of a virtual cluster index that select the entry within one L2 table. */
    public int l2Bits() {
        return clusterBits - (extendedL2() ? 4 : 3);
    }

    /** Bytes of virtual disk one L2 table maps. */
    public long bytesPerL2Table() {
        return 1L << (clusterBits + l2Bits());
    }

    /** True when the dirty bit is set. */
    public boolean dirty() {
        return (incompatibleFeatures & INCOMPAT_DIRTY) != 0;
    }

    /** True when the corrupt bit is set. */
    public boolean corrupt() {
        return (incompatibleFeatures & INCOMPAT_CORRUPT) != 0;
    }

    /** True when lazy refcounts are on. */
    public boolean lazyRefcounts() {
        return (compatibleFeatures & COMPAT_LAZY_REFCOUNTS) != 0;
    }

    /**
     * Parses the header from the first bytes of an image (at least 72, ideally the whole first
     * cluster) and validates it against the file's length.
     *
     * @param start the first {@code min(fileSize, 2 MiB)} bytes of the file, big-endian, position 0
     */
    public static Qcow2Header parse(String image, ByteBuffer start, long fileSize) throws ImageException {
        ByteBuffer b = start.duplicate().order(java.nio.ByteOrder.BIG_ENDIAN);
        int available = b.remaining();
        if (available < 72) {
            throw new CorruptImageException(image, 0, "file too short for a QCOW2 header (" + available + " bytes)");
        }
        int magic = b.getInt(0);
        if (magic != MAGIC) {
            throw new CorruptImageException(image, 0, String.format("not a QCOW2 image (magic 0x%08x)", magic));
        }
        int version = b.getInt(4);
        if (version != 2 && version != 3) {
            throw new UnsupportedImageException(image, 4, "unsupported QCOW2 version " + Integer.toUnsignedString(version));
        }
        long backingOffset = b.getLong(8);
        long backingSize = Integer.toUnsignedLong(b.getInt(16));
        int clusterBits = b.getInt(20);
        if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
            throw new CorruptImageException(image, 20, "cluster_bits " + Integer.toUnsignedString(clusterBits)
                    + " outside the supported 9..21 (512 B to 2 MiB)");
        }
        long clusterSize = 1L << clusterBits;
        long virtualSize = b.getLong(24);
        if (virtualSize < 0) {
            throw new CorruptImageException(image, 24, "virtual size " + Long.toUnsignedString(virtualSize) + " is too large");
        }
        int cryptMethod = b.getInt(32);
        if (cryptMethod != 0) {
            throw new UnsupportedImageException(image, 32, "encrypted images are not supported (crypt_method "
                    + (cryptMethod == 1 ? "AES" : cryptMethod == 2 ? "LUKS" : Integer.toUnsignedString(cryptMethod)) + ")");
        }
        long l1Size = Integer.toUnsignedLong(b.getInt(36));
        long l1Offset = b.getLong(40);
        long refcountOffset = b.getLong(48);
        long snapshots = Integer.toUnsignedLong(b.getInt(60));

        long incompat = 0;
        long compat = 0;
        long autoclear = 0;
        int refcountOrder = 4;
        int headerLength = 72;
        CompressionType compression = CompressionType.DEFLATE;
        if (version == 3) {
            if (available < 104) {
                throw new CorruptImageException(image, 0, "file too short for a version 3 header (" + available + " bytes)");
            }
            incompat = b.getLong(72);
            compat = b.getLong(80);
            autoclear = b.getLong(88);
            refcountOrder = b.getInt(96);
            headerLength = b.getInt(100);
            if (headerLength < 104 || (headerLength & 7) != 0 || headerLength > clusterSize) {
                throw new CorruptImageException(image, 100, "bad header_length " + Integer.toUnsignedString(headerLength));
            }
            if (refcountOrder < 0 || refcountOrder > 6) {
                throw new CorruptImageException(image, 96, "bad refcount_order " + Integer.toUnsignedString(refcountOrder));
            }
            if (headerLength > 104) {
                int type = b.get(104) & 0xFF;
                if (type == 0) {
                    compression = CompressionType.DEFLATE;
                } else if (type == 1) {
                    compression = CompressionType.ZSTD;
                } else {
                    throw new UnsupportedImageException(image, 104, "unknown compression type " + type);
                }
            }
            boolean bitSet = (incompat & INCOMPAT_COMPRESSION) != 0;
            if (bitSet != (compression != CompressionType.DEFLATE)) {
                throw new CorruptImageException(image, 72, "compression type " + compression.qemuName()
                        + " does not agree with the compression feature bit");
            }
        }

        // Extensions: from the end of the header to the backing name (or the end of cluster 0).
        long areaEnd = backingOffset != 0 ? backingOffset : clusterSize;
        if (backingOffset != 0 && (backingOffset > clusterSize || backingOffset < headerLength)) {
            throw new CorruptImageException(image, 8, "backing file name offset " + Long.toUnsignedString(backingOffset)
                    + " is outside the header cluster");
        }
        areaEnd = Math.min(areaEnd, available);
        Map<Long, String> featureNames = new HashMap<>();
        String backingFormat = null;
        List<Integer> seen = new ArrayList<>();
        long pos = headerLength;
        while (pos + 8 <= areaEnd) {
            int type = b.getInt((int) pos);
            long len = Integer.toUnsignedLong(b.getInt((int) pos + 4));
            if (type == EXT_END) {
                break;
            }
            long dataStart = pos + 8;
            if (dataStart + len > areaEnd) {
                throw new CorruptImageException(image, pos, String.format("header extension 0x%08x of %d bytes runs past the header area", type, len));
            }
            if (seen.contains(type)) {
                throw new CorruptImageException(image, pos, String.format("header extension 0x%08x appears twice", type));
            }
            seen.add(type);
            switch (type) {
                case EXT_BACKING_FORMAT -> backingFormat = string(b, dataStart, len);
                case EXT_FEATURE_TABLE -> {
                    for (long e = dataStart; e + 48 <= dataStart + len; e += 48) {
                        int kind = b.get((int) e) & 0xFF;
                        int bit = b.get((int) e + 1) & 0xFF;
                        featureNames.put(((long) kind << 8) | bit, string(b, e + 2, 46));
                    }
                }
                case EXT_CRYPTO -> throw new UnsupportedImageException(image, pos, "encrypted images are not supported (LUKS header extension)");
                default -> {
                    // Unknown and irrelevant extensions (bitmaps, data file name handled below) are skipped.
                }
            }
            pos = dataStart + ((len + 7) & ~7L);
        }

        long unknown = incompat & ~INCOMPAT_KNOWN;
        if (unknown != 0) {
            List<String> names = new ArrayList<>();
            for (int bit = 0; bit < 64; bit++) {
                if ((unknown & (1L << bit)) != 0) {
                    String named = featureNames.get((long) bit);
                    names.add(named != null && !named.isEmpty() ? "'" + named + "'" : "bit " + bit);
                }
            }
            throw new UnsupportedImageException(image, 72, "unknown incompatible feature " + String.join(", ", names));
        }
        if ((incompat & INCOMPAT_DATA_FILE) != 0 || seen.contains(EXT_DATA_FILE)) {
            throw new UnsupportedImageException(image, 72, "images with an external data file are not supported");
        }
        if ((incompat & INCOMPAT_EXTENDED_L2) != 0 && clusterBits < 14) {
            throw new CorruptImageException(image, 20, "extended L2 entries need clusters of at least 16 KiB");
        }

        String backingName = null;
        if (backingOffset != 0) {
            if (backingSize == 0 || backingSize > MAX_BACKING_NAME || backingOffset + backingSize > clusterSize) {
                throw new CorruptImageException(image, 16, "bad backing file name length " + backingSize);
            }
            if (backingOffset + backingSize > available) {
                throw new CorruptImageException(image, backingOffset, "file is truncated inside the backing file name");
            }
            byte[] raw = new byte[(int) backingSize];
            b.get((int) backingOffset, raw);
            backingName = new String(raw, StandardCharsets.UTF_8);
            if (backingName.indexOf('\0') >= 0) {
                throw new CorruptImageException(image, backingOffset, "backing file name contains a NUL byte");
            }
        }

        if (l1Size > MAX_L1_BYTES / 8) {
            throw new CorruptImageException(image, 36, "L1 table of " + l1Size + " entries exceeds the 32 MiB limit");
        }
        int l2Bits = clusterBits - ((incompat & INCOMPAT_EXTENDED_L2) != 0 ? 4 : 3);
        long bytesPerL2 = 1L << (clusterBits + l2Bits);
        long neededL1 = ceilDiv(virtualSize, bytesPerL2);
        if (neededL1 > l1Size) {
            throw new CorruptImageException(image, 36, "L1 table of " + l1Size + " entries is too small for a virtual size of "
                    + virtualSize + " bytes (needs " + neededL1 + ")");
        }
        if (l1Size > 0) {
            if ((l1Offset & (clusterSize - 1)) != 0 || l1Offset <= 0) {
                throw new CorruptImageException(image, 40, "L1 table offset 0x" + Long.toHexString(l1Offset) + " is not cluster aligned");
            }
            if (l1Offset + neededL1 * 8 > fileSize) {
                throw new CorruptImageException(image, 40, "L1 table at 0x" + Long.toHexString(l1Offset) + " (" + neededL1
                        + " entries needed) runs past the end of the file (" + fileSize + " bytes)");
            }
        }
        if (snapshots > 65536) {
            throw new CorruptImageException(image, 60, "implausible snapshot count " + snapshots);
        }
        return new Qcow2Header(version, clusterBits, virtualSize, (int) l1Size, l1Offset, refcountOffset, (int) snapshots,
                incompat, compat, autoclear, refcountOrder, headerLength, compression, backingName, backingFormat);
    }

    private static long ceilDiv(long a, long b) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }

    private static String string(ByteBuffer b, long offset, long length) {
        byte[] bytes = new byte[(int) length];
        b.get((int) offset, bytes);
        int end = 0;
        while (end < bytes.length && bytes[end] != 0) {
            end++;
        }
        return new String(bytes, 0, end, StandardCharsets.UTF_8);
    }
}
