package dev.branchboot.agent.nbd;

import static dev.branchboot.agent.nbd.NbdProtocol.*;

import dev.branchboot.agent.blockdev.BlockDevice;
import dev.branchboot.agent.blockdev.DeviceFullException;
import dev.branchboot.agent.blockdev.ReadOnlyDeviceException;
import dev.branchboot.qcow2.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.logging.Logger;

/**
 * The commands of one connection: which requests are valid for its session and export, and
 * serving a valid one against the block device, answering through the {@link ReplyWriter}.
 * Safe for concurrent use: requests share nothing but the device and the writer.
 */
final class RequestHandler {
    private static final Logger LOG = Logger.getLogger(RequestHandler.class.getName());
    /** Structured READs stream in pieces of this size, so they never buffer a whole 32 MiB request. */
    static final int READ_PIECE = 1 << 20;
    /** More extents than this in one BLOCK_STATUS reply are cut off (clients ask again). */
    static final int MAX_EXTENTS = 1 << 16;

    private final BlockDevice device;
    private final Session session;
    private final ReplyWriter replies;
    private final String peer;

    RequestHandler(BlockDevice device, Session session, ReplyWriter replies, String peer) {
        this.device = device;
        this.session = session;
        this.replies = replies;
        this.peer = peer;
    }

    /**
     * Bytes a request buffers until its reply is written, for the memory budgets: a WRITE's payload,
     * a READ's data. A structured READ served where its reply is written streams through one piece;
     * one served by a worker ({@link Request#queued}) keeps each piece until the writer thread has
     * sent it, so it holds all of them.
     */
    int bufferCost(Request r) {
        if (r.type == CMD_WRITE) {
            return (int) r.length;
        }
        if (r.type == CMD_READ) {
            boolean whole = r.queued || !session.structuredReplies() || r.has(CMD_FLAG_DF);
            return (int) (whole ? r.length : Math.min(r.length, READ_PIECE));
        }
        return 0;
    }

    /** Why the request is refused, as "errno:message", or {@code null} when it is valid. */
    String validate(Request r) {
        int allowed = CMD_FLAG_FUA;
        switch (r.type) {
            case CMD_READ -> allowed |= (session.flags() & TF_SEND_DF) != 0 ? CMD_FLAG_DF : 0;
            case CMD_WRITE_ZEROES -> allowed |= CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO;
            case CMD_BLOCK_STATUS -> allowed |= CMD_FLAG_REQ_ONE;
            case CMD_WRITE, CMD_FLUSH, CMD_TRIM, CMD_CACHE -> {
            }
            default -> {
                return EINVAL + ":unknown command " + r.type;
            }
        }
        if ((r.flags & ~allowed) != 0) {
            return EINVAL + ":flags 0x" + Integer.toHexString(r.flags) + " are not valid for " + r;
        }
        boolean writes = r.type == CMD_WRITE || r.type == CMD_TRIM || r.type == CMD_WRITE_ZEROES;
        if (writes && !device.writable()) {
            return EPERM + ":the export is read-only";
        }
        if (r.type == CMD_FLUSH) {
            return null;
        }
        if ((r.type == CMD_READ || r.type == CMD_WRITE) && r.length > MAX_PAYLOAD) {
            int errno = r.type == CMD_READ && session.structuredReplies() ? EOVERFLOW : EINVAL;
            return errno + ":request of " + r.length + " bytes exceeds the maximum payload of " + MAX_PAYLOAD;
        }
        long size = device.size();
        if (r.offset < 0 || r.offset > size || r.length > size - r.offset) {
            int errno = r.type == CMD_WRITE || r.type == CMD_WRITE_ZEROES ? ENOSPC : EINVAL;
            return errno + ":range " + Long.toUnsignedString(r.offset) + "+" + r.length + " is outside the export of " + size + " bytes";
        }
        if (r.type == CMD_BLOCK_STATUS) {
            if (!session.baseAllocation()) {
                return EINVAL + ":no meta context was negotiated for block status";
            }
            if (r.length == 0) {
                return EINVAL + ":block status of zero bytes";
            }
        }
        return null;
    }

    /** Answers a request that {@link #validate} refused. */
    void refuse(Request r, String error) throws IOException {
        int colon = error.indexOf(':');
        String message = error.substring(colon + 1);
        LOG.fine(() -> peer + ": " + r + " refused: " + message);
        replies.error(r, Integer.parseInt(error.substring(0, colon)), message, session.structuredReplies());
    }

    /**
     * Serves a valid request and sends its reply. A device error becomes an error reply; a failed
     * reply stream is the connection's problem, reported by the writer, not here.
     */
    void serve(Request r) {
        serve(r, null);
    }

    /**
     * As {@link #serve(Request)}, running {@code beforeReply} (when not null) after a READ's data
     * is ready and before its first reply byte goes out.
     */
    void serve(Request r, Runnable beforeReply) {
        try {
            switch (r.type) {
                case CMD_READ -> read(r, beforeReply);
                case CMD_WRITE -> {
                    device.write(r.offset, r.payload, r.has(CMD_FLAG_FUA));
                    replies.simple(r, 0);
                }
                case CMD_FLUSH -> {
                    device.flush();
                    replies.simple(r, 0);
                }
                case CMD_TRIM -> {
                    if (r.length > 0) {
                        device.trim(r.offset, r.length, r.has(CMD_FLAG_FUA));
                    }
                    replies.simple(r, 0);
                }
                case CMD_WRITE_ZEROES -> {
                    if (r.length > 0) {
                        device.zero(r.offset, r.length, !r.has(CMD_FLAG_NO_HOLE), r.has(CMD_FLAG_FUA));
                    }
                    replies.simple(r, 0);
                }
                case CMD_CACHE -> {
                    device.cache(r.offset, r.length);
                    replies.simple(r, 0);
                }
                case CMD_BLOCK_STATUS -> blockStatus(r);
                default -> throw new IllegalStateException("unvalidated command " + r.type);
            }
        } catch (ReplyWriter.ReplyFailed lost) {
            // The connection is closing; nobody is left to tell.
        } catch (IOException e) {
            int errno = errno(e);
            if (errno == EIO) {
                LOG.warning(peer + ": " + r + " failed: " + e.getMessage());
            }
            try {
                replies.error(r, errno, e.getMessage(), session.structuredReplies());
            } catch (IOException lost) {
                // As above: the reply stream is gone.
            }
        }
    }

    private static int errno(IOException e) {
        if (e instanceof ReadOnlyDeviceException) {
            return EPERM;
        }
        if (e instanceof DeviceFullException) {
            return ENOSPC;
        }
        return EIO;
    }

    private void read(Request r, Runnable beforeReply) throws IOException {
        boolean structured = session.structuredReplies();
        if (structured && r.length == 0) {
            runHook(beforeReply);
            replies.chunk(r, REPLY_FLAG_DONE, REPLY_TYPE_NONE);
            return;
        }
        if (!structured || r.has(CMD_FLAG_DF)) {
            // Read everything before the first byte goes out: after a simple reply's success header
            // (or a DF chunk) an error could only be reported by hanging up.
            ByteBuffer data = r.data = ReadBuffers.take((int) r.length);
            device.read(r.offset, data);
            data.flip();
            runHook(beforeReply);
            if (structured) {
                replies.chunk(r, REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, ByteBuffer.allocate(8).putLong(0, r.offset), data);
            } else {
                replies.simpleData(r, data);
            }
            return;
        }
        long end = r.offset + r.length;
        long position = r.offset;
        // Where the reply is written here, one piece at a time, each written before the next is
        // read; a worker's pieces wait for the writer thread, so each has its own part of the buffer.
        if (r.queued) {
            r.data = ReadBuffers.take((int) r.length);
        }
        try {
            while (position < end) {
                List<Extent> extents = device.blockStatus(position, end - position);
                if (extents.isEmpty()) {
                    throw new IOException(device.name() + ": no allocation information at offset " + position);
                }
                for (Extent e : extents) {
                    long eEnd = Math.min(e.end(), end);
                    if (e.allocation().readsAsZeros()) {
                        if (position == r.offset) {
                            runHook(beforeReply);
                        }
                        ByteBuffer hole = ByteBuffer.allocate(12).putLong(position).putInt((int) (eEnd - position)).flip();
                        replies.chunk(r, eEnd == end ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_HOLE, hole);
                    } else {
                        for (long p = position; p < eEnd; p += READ_PIECE) {
                            int n = (int) Math.min(READ_PIECE, eEnd - p);
                            ByteBuffer piece;
                            if (r.queued) {
                                piece = r.data.slice((int) (p - r.offset), n);
                            } else {
                                if (r.data == null) {
                                    r.data = ReadBuffers.take((int) Math.min(READ_PIECE, r.length));
                                }
                                piece = r.data.clear().limit(n);
                            }
                            device.read(p, piece);
                            piece.flip();
                            if (p == r.offset) {
                                runHook(beforeReply);
                            }
                            replies.chunk(r, p + n == end ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_DATA,
                                    ByteBuffer.allocate(8).putLong(0, p), piece);
                            position = p + n;
                        }
                    }
                    position = eEnd;
                    if (position >= end) {
                        break;
                    }
                }
            }
        } catch (ReplyWriter.ReplyFailed e) {
            throw e;
        } catch (IOException e) {
            // Earlier chunks went out; ERROR_OFFSET (with DONE) says where the read failed.
            LOG.warning(peer + ": " + r + " failed at offset " + position + ": " + e.getMessage());
            replies.errorAt(r, errno(e), e.getMessage(), position);
        }
    }

    private static void runHook(Runnable hook) {
        if (hook != null) {
            hook.run();
        }
    }

    private void blockStatus(Request r) throws IOException {
        List<Extent> extents = device.blockStatus(r.offset, r.length);
        int n = r.has(CMD_FLAG_REQ_ONE) ? 1 : Math.min(extents.size(), MAX_EXTENTS);
        ByteBuffer payload = ByteBuffer.allocate(4 + 8 * n);
        payload.putInt(BASE_ALLOCATION_ID);
        long end = r.offset + r.length;
        for (int i = 0; i < n; i++) {
            Extent e = extents.get(i);
            long length = Math.min(e.end(), end) - e.offset();
            int state = switch (e.allocation()) {
                case DATA -> 0;
                case ZERO -> STATE_ZERO;
                case HOLE -> STATE_HOLE | STATE_ZERO;
            };
            payload.putInt((int) length).putInt(state);
        }
        payload.flip();
        replies.chunk(r, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, payload);
    }
}
