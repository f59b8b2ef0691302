package dev.branchboot.qcow2;

import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;

/**
 * Zstandard clusters as qemu writes them: one or more frames followed by padding or unrelated
 * bytes. libzstd's one-shot API rejects trailing bytes, so each frame's exact length is found first
 * by walking its header and block headers (RFC 8878, section 3.1), and only that span is decoded.
 */
final class ZstdClusterDecompressor implements ClusterDecompressor {
    static final ZstdClusterDecompressor INSTANCE = new ZstdClusterDecompressor();

    private static final int FRAME_MAGIC = 0xFD2FB528;
    private static final int SKIPPABLE_MAGIC_MASK = 0xFFFFFFF0;
    private static final int SKIPPABLE_MAGIC = 0x184D2A50;

    private static final ThreadLocal<ZstdDecompressCtx> CONTEXTS;

    static {
        ZstdNativeLibrary.ensureLoaded();
        CONTEXTS = ThreadLocal.withInitial(ZstdDecompressCtx::new);
    }

    private ZstdClusterDecompressor() {
    }

    @Override
    public void decompress(ByteBuffer input, ByteBuffer output) throws DataFormatException {
        ZstdDecompressCtx ctx = CONTEXTS.get();
        int pos = input.position();
        int end = input.limit();
        int outputLength = output.remaining();
        int produced = 0;
        while (produced < outputLength) {
            int frameLength = frameLength(input, pos, end);
            int magic = littleEndianInt(input, pos);
            if ((magic & SKIPPABLE_MAGIC_MASK) != SKIPPABLE_MAGIC) {
                try {
                    produced += decompressFrame(ctx, input, pos, frameLength, output, output.position() + produced,
                            outputLength - produced);
                } catch (ZstdException e) {
                    throw new DataFormatException("zstd frame at input byte " + (pos - input.position()) + ": " + e.getMessage());
                }
            }
            pos += frameLength;
        }
    }

    private static int decompressFrame(ZstdDecompressCtx ctx, ByteBuffer in, int inPos, int inLength, ByteBuffer out, int outPos,
                                       int outLength) {
        if (in.isDirect() && out.isDirect()) {
            return ctx.decompressDirectByteBuffer(out, outPos, outLength, in, inPos, inLength);
        }
        if (in.hasArray() && out.hasArray()) {
            return ctx.decompressByteArray(out.array(), out.arrayOffset() + outPos, outLength,
                    in.array(), in.arrayOffset() + inPos, inLength);
        }
        // Mixed kinds: bring the (smaller) compressed frame over to the output's kind.
        ByteBuffer copy = out.isDirect() ? ByteBuffer.allocateDirect(inLength) : ByteBuffer.allocate(inLength);
        copy.put(0, in, inPos, inLength);
        return decompressFrame(ctx, copy, 0, inLength, out, outPos, outLength);
    }

    /**
     * The exact length of the frame starting at {@code pos}, checked to lie before {@code end}.
     * Package-private for tests.
     */
    static int frameLength(ByteBuffer in, int pos, int end) throws DataFormatException {
        require(in, pos, 4, end, "frame magic");
        int magic = littleEndianInt(in, pos);
        if ((magic & SKIPPABLE_MAGIC_MASK) == SKIPPABLE_MAGIC) {
            require(in, pos, 8, end, "skippable frame size");
            long size = Integer.toUnsignedLong(littleEndianInt(in, pos + 4));
            long total = 8 + size;
            if (pos + total > end) {
                throw new DataFormatException("skippable frame of " + size + " bytes runs past the compressed data");
            }
            return (int) total;
        }
        if (magic != FRAME_MAGIC) {
            throw new DataFormatException(String.format("bad zstd frame magic 0x%08x", magic));
        }
        int p = pos + 4;
        require(in, p, 1, end, "frame header");
        int descriptor = in.get(p) & 0xFF;
        int fcsFlag = descriptor >>> 6;
        boolean singleSegment = (descriptor & 0x20) != 0;
        boolean checksum = (descriptor & 0x04) != 0;
        int dictIdFlag = descriptor & 0x03;
        if ((descriptor & 0x08) != 0) {
            throw new DataFormatException("zstd frame header has its reserved bit set");
        }
        p += 1;
        if (!singleSegment) {
            p += 1;
        }
        p += switch (dictIdFlag) {
            case 0 -> 0;
            case 1 -> 1;
            case 2 -> 2;
            default -> 4;
        };
        p += switch (fcsFlag) {
            case 0 -> singleSegment ? 1 : 0;
            case 1 -> 2;
            case 2 -> 4;
            default -> 8;
        };
        while (true) {
            require(in, p, 3, end, "block header");
            int header = (in.get(p) & 0xFF) | (in.get(p + 1) & 0xFF) << 8 | (in.get(p + 2) & 0xFF) << 16;
            p += 3;
            boolean last = (header & 1) != 0;
            int type = (header >>> 1) & 3;
            int size = header >>> 3;
            if (type == 3) {
                throw new DataFormatException("zstd block of reserved type");
            }
            int consumed = type == 1 ? 1 : size;
            require(in, p, consumed, end, "block");
            p += consumed;
            if (last) {
                break;
            }
        }
        if (checksum) {
            require(in, p, 4, end, "frame checksum");
            p += 4;
        }
        return p - pos;
    }

    private static void require(ByteBuffer in, int pos, int length, int end, String what) throws DataFormatException {
        if (pos < 0 || length < 0 || (long) pos + length > end) {
            throw new DataFormatException("zstd " + what + " runs past the end of the compressed data");
        }
    }

    private static int littleEndianInt(ByteBuffer in, int pos) {
        return (in.get(pos) & 0xFF) | (in.get(pos + 1) & 0xFF) << 8 | (in.get(pos + 2) & 0xFF) << 16 | (in.get(pos + 3) & 0xFF) << 24;
    }
}
