package dev.branchboot.agent.nbd;

import static dev.branchboot.agent.nbd.NbdProtocol.*;

import dev.branchboot.agent.blockdev.BlockDevice;
import dev.branchboot.agent.blockdev.DeviceFullException;
import dev.branchboot.agent.blockdev.ReadOnlyDeviceException;
import dev.branchboot.qcow2.Extent;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One client connection: the handshake, then the transmission phase. This thread reads requests
 * in order, validates them, and hands valid ones to the shared worker pool, so requests on one
 * connection run concurrently; each reply (or structured chunk) is written whole under a lock, so
 * replies never interleave. At most {@link #MAX_IN_FLIGHT} requests are in flight per connection,
 * and the bytes they buffer are bounded by the server's shared budget.
 */
final class NbdConnection implements Runnable {
    private static final Logger LOG = Logger.getLogger(NbdConnection.class.getName());
    /** The kernel keeps up to 128 requests in flight per connection. */
    static final int MAX_IN_FLIGHT = 128;
    /** Structured READs stream in pieces of this size, so they never buffer a whole 32 MiB request. */
    static final int READ_PIECE = 1 << 20;
    /** More extents than this in one BLOCK_STATUS reply are cut off (clients ask again). */
    static final int MAX_EXTENTS = 1 << 16;

    private final NbdServer.Shared shared;
    private final SocketChannel ch;
    private final String peer;
    private final BlockDevice device;
    private final Semaphore inFlight = new Semaphore(MAX_IN_FLIGHT);
    private final ReentrantLock writeLock = new ReentrantLock();
    private final long createdNanos = System.nanoTime();
    private volatile long writeSinceNanos;
    private volatile boolean handshakeDone;
    private volatile boolean closing;
    private volatile boolean broken;
    private Session session;

    NbdConnection(NbdServer.Shared shared, SocketChannel ch, String peer) {
        this.shared = shared;
        this.ch = ch;
        this.peer = peer;
        this.device = shared.export().device();
    }

    String peer() {
        return peer;
    }

    @Override
    public void run() {
        try {
            session = new Handshake(ch, shared.export(), peer).run();
            handshakeDone = true;
            if (session != null && !closing) {
                LOG.fine(() -> peer + ": opened export '" + shared.export().name() + "' (structured replies: "
                        + session.structuredReplies() + ", flags 0x" + Integer.toHexString(session.flags()) + ")");
                transmit();
            }
        } catch (Handshake.Disconnect e) {
            LOG.info(peer + ": disconnecting: " + e.getMessage());
        } catch (EOFException | ClosedChannelException e) {
            LOG.fine(() -> peer + ": connection closed: " + e);
        } catch (IOException e) {
            if (!closing && !broken) {
                LOG.info(peer + ": connection lost: " + e.getMessage());
            }
        } catch (RuntimeException | Error e) {
            LOG.log(Level.WARNING, peer + ": connection failed: " + e, e);
        } finally {
            // Finish what is in flight before closing: DISC and shutdown both promise that.
            inFlight.acquireUninterruptibly(MAX_IN_FLIGHT);
            closeChannel();
            shared.closed(this);
        }
    }

    private void transmit() throws IOException {
        ByteBuffer header = ByteBuffer.allocate(28);
        while (!closing) {
            header.clear();
            if (!Wire.readMessageStart(ch, header)) {
                return;
            }
            header.flip();
            int magic = header.getInt();
            int flags = Short.toUnsignedInt(header.getShort());
            int type = Short.toUnsignedInt(header.getShort());
            long cookie = header.getLong();
            long offset = header.getLong();
            long length = Integer.toUnsignedLong(header.getInt());
            if (magic != REQUEST_MAGIC) {
                throw new Handshake.Disconnect("bad request magic 0x" + Integer.toHexString(magic) + "; cannot resynchronise");
            }
            if (type == CMD_DISC) {
                LOG.fine(() -> peer + ": client disconnected (NBD_CMD_DISC)");
                return;
            }
            Request request = new Request(cookie, type, flags, offset, length);
            String error = validate(request);
            if (type == CMD_WRITE) {
                if (error != null) {
                    // The payload follows the header whatever the answer: consume it to stay in sync.
                    Wire.discard(ch, length);
                    replyError(request, error);
                    continue;
                }
                int cost = (int) length;
                acquire(cost);
                try {
                    ByteBuffer payload = ByteBuffer.allocate(cost);
                    Wire.readFully(ch, payload);
                    payload.flip();
                    request.payload = payload;
                } catch (IOException | RuntimeException e) {
                    release(cost);
                    throw e;
                }
                submit(request, cost);
            } else if (error != null) {
                replyError(request, error);
            } else {
                int cost = 0;
                if (type == CMD_READ) {
                    boolean whole = !session.structuredReplies() || (flags & CMD_FLAG_DF) != 0;
                    cost = (int) (whole ? length : Math.min(length, READ_PIECE));
                }
                acquire(cost);
                submit(request, cost);
            }
        }
    }

    private void acquire(int cost) {
        inFlight.acquireUninterruptibly();
        shared.budget().acquireUninterruptibly(cost);
    }

    private void release(int cost) {
        shared.budget().release(cost);
        inFlight.release();
    }

    private void submit(Request request, int cost) {
        Executor workers = shared.workers();
        try {
            workers.execute(() -> {
                try {
                    execute(request);
                } catch (RuntimeException | Error e) {
                    LOG.log(Level.WARNING, peer + ": request " + request + " failed: " + e, e);
                    closeChannel();
                } finally {
                    request.payload = null;
                    release(cost);
                }
            });
        } catch (RejectedExecutionException e) {
            release(cost);
            closeChannel();
        }
    }

    /** Why the request is refused, as "errno:message", or {@code null} when it is valid. */
    private String validate(Request r) {
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
            return EINVAL + ":flags 0x" + Integer.toHexString(r.flags) + " are not valid for command " + r.type;
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

    private void execute(Request r) {
        try {
            switch (r.type) {
                case CMD_READ -> read(r);
                case CMD_WRITE -> {
                    device.write(r.offset, r.payload, (r.flags & CMD_FLAG_FUA) != 0);
                    simpleReply(r.cookie, 0);
                }
                case CMD_FLUSH -> {
                    device.flush();
                    simpleReply(r.cookie, 0);
                }
                case CMD_TRIM -> {
                    if (r.length > 0) {
                        device.trim(r.offset, r.length, (r.flags & CMD_FLAG_FUA) != 0);
                    }
                    simpleReply(r.cookie, 0);
                }
                case CMD_WRITE_ZEROES -> {
                    if (r.length > 0) {
                        device.zero(r.offset, r.length, (r.flags & CMD_FLAG_NO_HOLE) == 0, (r.flags & CMD_FLAG_FUA) != 0);
                    }
                    simpleReply(r.cookie, 0);
                }
                case CMD_CACHE -> {
                    device.cache(r.offset, r.length);
                    simpleReply(r.cookie, 0);
                }
                case CMD_BLOCK_STATUS -> blockStatus(r);
                default -> throw new IllegalStateException("unvalidated command " + r.type);
            }
        } catch (IOException e) {
            if (broken || closing && !ch.isOpen()) {
                return;
            }
            int errno = errno(e);
            if (errno == EIO) {
                LOG.warning(peer + ": " + r + " failed: " + e.getMessage());
            }
            try {
                replyError(r, errno + ":" + e.getMessage());
            } catch (IOException lost) {
                markBroken(lost);
            }
        }
    }

    /** Raised to skip the error reply when the reply stream itself failed. */
    private static final class ReplyFailed extends IOException {
        private static final long serialVersionUID = 1L;

        ReplyFailed(IOException cause) {
            super(cause.getMessage(), cause);
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

    private void read(Request r) throws IOException {
        boolean structured = session.structuredReplies();
        if (!structured || (r.flags & CMD_FLAG_DF) != 0) {
            ByteBuffer data = ByteBuffer.allocate((int) r.length);
            device.read(r.offset, data);
            data.flip();
            if (structured) {
                if (r.length == 0) {
                    chunk(r.cookie, REPLY_FLAG_DONE, REPLY_TYPE_NONE);
                } else {
                    chunk(r.cookie, REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, ByteBuffer.allocate(8).putLong(0, r.offset), data);
                }
            } else {
                send(simpleHeader(r.cookie, 0), data);
            }
            return;
        }
        long end = r.offset + r.length;
        if (r.length == 0) {
            chunk(r.cookie, REPLY_FLAG_DONE, REPLY_TYPE_NONE);
            return;
        }
        long position = r.offset;
        ByteBuffer piece = null;
        try {
            while (position < end) {
                List<Extent> extents = device.blockStatus(position, end - position);
                if (extents.isEmpty()) {
                    throw new IOException(device.name() + ": no allocation information at offset " + position);
                }
                for (Extent e : extents) {
                    long eEnd = Math.min(e.end(), end);
                    if (e.allocation().readsAsZeros()) {
                        ByteBuffer hole = ByteBuffer.allocate(12).putLong(position).putInt((int) (eEnd - position)).flip();
                        chunk(r.cookie, eEnd == end ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_HOLE, hole);
                    } else {
                        for (long p = position; p < eEnd; p += READ_PIECE) {
                            int n = (int) Math.min(READ_PIECE, eEnd - p);
                            if (piece == null) {
                                piece = ByteBuffer.allocate((int) Math.min(READ_PIECE, r.length));
                            }
                            piece.clear().limit(n);
                            device.read(p, piece);
                            piece.flip();
                            chunk(r.cookie, p + n == end ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_DATA,
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
        } catch (ReplyFailed e) {
            throw e;
        } catch (IOException e) {
            // Earlier chunks went out; ERROR_OFFSET (with DONE) says where the read failed.
            int errno = errno(e);
            LOG.warning(peer + ": " + r + " failed at offset " + position + ": " + e.getMessage());
            byte[] msg = truncate(e.getMessage());
            ByteBuffer payload = ByteBuffer.allocate(14 + msg.length).putInt(errno).putShort((short) msg.length).put(msg).putLong(position).flip();
            chunk(r.cookie, REPLY_FLAG_DONE, REPLY_TYPE_ERROR_OFFSET, payload);
        }
    }

    private void blockStatus(Request r) throws IOException {
        List<Extent> extents = device.blockStatus(r.offset, r.length);
        boolean one = (r.flags & CMD_FLAG_REQ_ONE) != 0;
        int n = one ? 1 : Math.min(extents.size(), MAX_EXTENTS);
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
        chunk(r.cookie, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, payload);
    }

    private void replyError(Request r, String error) throws IOException {
        int colon = error.indexOf(':');
        int errno = Integer.parseInt(error.substring(0, colon));
        String message = error.substring(colon + 1);
        LOG.fine(() -> peer + ": " + r + " refused: " + message);
        if (session.structuredReplies()) {
            // Required for READ; for the rest the spec prefers it, since the chunk carries the message.
            byte[] msg = truncate(message);
            ByteBuffer payload = ByteBuffer.allocate(6 + msg.length).putInt(errno).putShort((short) msg.length).put(msg).flip();
            chunk(r.cookie, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, payload);
        } else {
            simpleReply(r.cookie, errno);
        }
    }

    private static byte[] truncate(String message) {
        byte[] bytes = String.valueOf(message).getBytes(StandardCharsets.UTF_8);
        return bytes.length <= 1024 ? bytes : java.util.Arrays.copyOf(bytes, 1024);
    }

    private static ByteBuffer simpleHeader(long cookie, int error) {
        return ByteBuffer.allocate(16).putInt(SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie).flip();
    }

    private void simpleReply(long cookie, int error) throws IOException {
        send(simpleHeader(cookie, error));
    }

    private void chunk(long cookie, int flags, int type, ByteBuffer... payload) throws IOException {
        int length = 0;
        for (ByteBuffer b : payload) {
            length += b.remaining();
        }
        ByteBuffer header = ByteBuffer.allocate(20).putInt(STRUCTURED_REPLY_MAGIC).putShort((short) flags)
                .putShort((short) type).putLong(cookie).putInt(length).flip();
        ByteBuffer[] all = new ByteBuffer[payload.length + 1];
        all[0] = header;
        System.arraycopy(payload, 0, all, 1, payload.length);
        send(all);
    }

    /** Writes one whole message; the lock keeps messages of concurrent requests apart. */
    private void send(ByteBuffer... message) throws IOException {
        if (broken) {
            throw new ReplyFailed(new ClosedChannelException());
        }
        writeLock.lock();
        try {
            writeSinceNanos = System.nanoTime();
            Wire.writeFully(ch, message);
        } catch (IOException e) {
            markBroken(e);
            throw new ReplyFailed(e);
        } finally {
            writeSinceNanos = 0;
            writeLock.unlock();
        }
    }

    private void markBroken(IOException e) {
        if (!broken && !closing) {
            LOG.info(peer + ": cannot send a reply (" + e.getMessage() + "); closing the connection");
        }
        broken = true;
        closeChannel();
    }

    /** Stops reading new requests; what is in flight completes, then the connection closes. */
    void stopReading() {
        closing = true;
        try {
            if (handshakeDone) {
                ch.shutdownInput();
            } else {
                ch.close();
            }
        } catch (IOException e) {
            closeChannel();
        }
    }

    /**
     * Closes a connection that holds resources for too long: a handshake that does not finish, or a
     * reply the client has not read for {@code stallNanos} (it stopped reading, so its requests
     * would otherwise pin workers and buffer budget that other connections need).
     */
    void closeIfStalled(long now, long handshakeNanos, long stallNanos) {
        long since = writeSinceNanos;
        if (!handshakeDone && now - createdNanos > handshakeNanos) {
            LOG.info(peer + ": handshake not finished in time; closing");
            closeChannel();
        } else if (since != 0 && now - since > stallNanos) {
            LOG.info(peer + ": client stopped reading replies; closing");
            broken = true;
            closeChannel();
        }
    }

    private void closeChannel() {
        try {
            ch.close();
        } catch (IOException ignored) {
            // Closing a socket we are done with; nothing to recover.
        }
    }

    /** One transmission-phase request. */
    private static final class Request {
        final long cookie;
        final int type;
        final int flags;
        final long offset;
        final long length;
        ByteBuffer payload;

        Request(long cookie, int type, int flags, long offset, long length) {
            this.cookie = cookie;
            this.type = type;
            this.flags = flags;
            this.offset = offset;
            this.length = length;
        }

        @Override
        public String toString() {
            String[] names = {"READ", "WRITE", "DISC", "FLUSH", "TRIM", "CACHE", "WRITE_ZEROES", "BLOCK_STATUS"};
            String name = type < names.length ? names[type] : "command " + type;
            return name + " " + Long.toUnsignedString(offset) + "+" + length;
        }
    }
}
