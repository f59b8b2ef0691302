package dev.branchboot.agent.nbd;

import static dev.branchboot.agent.nbd.NbdProtocol.*;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One client connection: the handshake, then the transmission phase. This thread reads requests
 * in order and hands valid ones to the shared worker pool ({@link RequestHandler}), so requests on
 * one connection run concurrently; {@link ReplyWriter} keeps their replies apart. While the client
 * sends one request at a time (for a second no request has arrived before the previous one was
 * answered), READs are served on this thread instead: at queue depth one the hand-off to a worker
 * and back cost more than it gains.
 *
 * <p>A request is in flight from the moment it is read until its reply has been written: at most
 * {@link #MAX_IN_FLIGHT} per connection, and the bytes they buffer (write payloads, read data
 * waiting to be sent) come out of the connection's own allowance
 * ({@link NbdServer.Limits#connectionBytes()}) and then the server's shared budget. A client that
 * pipelines requests but does not read the replies therefore stops this thread reading its
 * requests once its allowance is spent, while its replies wait for its own writer thread
 * ({@link ReplyWriter}): it slows itself, never the workers or the budget the other connections
 * use.
 */
final class NbdConnection implements Runnable {
    private static final Logger LOG = Logger.getLogger(NbdConnection.class.getName());
    /** The kernel keeps up to 128 requests in flight per connection. */
    static final int MAX_IN_FLIGHT = 128;
    /** How long after requests last overlapped they all go to the workers. */
    private static final long QUIET_NANOS = 1_000_000_000L;
    /** Reads served on the reading thread from this length on always look for a pipelined request. */
    private static final long POLL_ALWAYS_FROM = 32 << 10;

    private final NbdServer.Shared shared;
    private final SocketChannel ch;
    private final String peer;
    private final ReplyWriter replies;
    private final Semaphore inFlight = new Semaphore(MAX_IN_FLIGHT);
    /** Bytes this connection may hold in requests and replies not yet written. */
    private final Semaphore allowance;
    private final long createdNanos = System.nanoTime();
    private volatile long partialSinceNanos;
    /** Requests read so far, other than DISC (reading thread only); compared with the replies sent. */
    private long received;
    /** READs served on the reading thread (reading thread only). */
    private int servedHere;
    /** When a request last arrived while another was unanswered or waiting (reading thread only). */
    private long lastOverlapNanos = System.nanoTime() - QUIET_NANOS;
    private volatile boolean handshakeDone;
    private volatile boolean closing;

    NbdConnection(NbdServer.Shared shared, SocketChannel ch, String peer) {
        this.shared = shared;
        this.ch = ch;
        this.peer = peer;
        this.allowance = new Semaphore(shared.connectionBytes());
        this.replies = new ReplyWriter(ch, this::onReplyFailed, this::finish, peer);
    }

    @Override
    public void run() {
        try {
            Session session = new Handshake(ch, shared.export(), peer).run();
            handshakeDone = true;
            if (session != null && !closing) {
                LOG.fine(() -> peer + ": opened export '" + shared.export().name() + "' (structured replies: "
                        + session.structuredReplies() + ", flags 0x" + Integer.toHexString(session.flags()) + ")");
                transmit(new RequestHandler(shared.export().device(), session, replies, peer));
            }
        } catch (Handshake.Disconnect e) {
            LOG.info(peer + ": disconnecting: " + e.getMessage());
        } catch (EOFException | ClosedChannelException e) {
            LOG.fine(() -> peer + ": connection closed: " + e);
        } catch (IOException e) {
            if (!closing && !replies.broken()) {
                LOG.info(peer + ": connection lost: " + e.getMessage());
            }
        } catch (RuntimeException | Error e) {
            LOG.log(Level.WARNING, peer + ": connection failed: " + e, e);
        } finally {
            // Finish what is in flight before closing: DISC and shutdown both promise that.
            inFlight.acquireUninterruptibly(MAX_IN_FLIGHT);
            replies.close();
            closeChannel();
            shared.closed(this);
        }
    }

    private void transmit(RequestHandler handler) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(28);
        RequestInput input = new RequestInput(ch);
        while (!closing && transmitOne(handler, header, input)) {
            // One request per call: a loop that runs for the connection's life is entered once, so
            // the JIT would compile it only on stack replacement, which a boot's few thousand
            // requests never reach; the method it calls is compiled after a few hundred.
        }
    }

    /** Reads one request and serves or dispatches it; false once the client has gone. */
    private boolean transmitOne(RequestHandler handler, ByteBuffer header, RequestInput input) throws IOException {
        header.clear();
        if (!input.awaitMessage()) {
            return false;
        }
        partialSinceNanos = System.nanoTime(); // a message has started: it must be finished
        input.readFully(header);
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
            return false;
        }
        Request request = new Request(cookie, type, flags, offset, length);
        received++;
        String error = handler.validate(request);
        if (error != null) {
            if (type == CMD_WRITE) {
                // The payload follows the header whatever the answer: consume it to stay in sync.
                input.discard(length);
            }
            partialSinceNanos = 0;
            handler.refuse(request, error);
            return true;
        }
        // Decided before the budget is taken: a READ served by a worker holds more of it.
        boolean here = !overlapping(input) && type == CMD_READ;
        request.queued = !here;
        request.cost = handler.bufferCost(request);
        partialSinceNanos = 0; // waiting for budget is our doing, not the client's
        acquire(request.cost);
        if (type == CMD_WRITE) {
            partialSinceNanos = System.nanoTime();
            try {
                request.payload = ByteBuffer.allocate(request.cost);
                input.readFully(request.payload);
                request.payload.flip();
            } catch (IOException | RuntimeException e) {
                finish(request);
                throw e;
            }
            overlapping(input); // more may have come with the payload
        }
        partialSinceNanos = 0;
        if (here) {
            serveHere(handler, request, input);
        } else {
            submit(handler, request);
        }
        return true;
    }

    /**
     * Whether requests overlap now or did within the last {@link #QUIET_NANOS}: one arrived while an
     * earlier one is unanswered, or more are already waiting.
     */
    private boolean overlapping(RequestInput input) {
        long now = System.nanoTime();
        if (received - 1 > replies.answered() || input.buffered()) {
            lastOverlapNanos = now;
        }
        return now - lastOverlapNanos <= QUIET_NANOS;
    }

    /**
     * Serves a READ on this thread. A client at queue depth one waits for the reply before it sends
     * its next request; one that pipelines (nbdcopy, qemu-img) has sent it by the time the data is
     * ready, and must not wait unread while this thread is busy: a request already here then
     * switches the connection to the workers. Looking costs a few system calls, so it is done for
     * every large read (what pipelining clients send) and for every sixteenth small one.
     */
    private void serveHere(RequestHandler handler, Request request, RequestInput input) {
        boolean look = request.length >= POLL_ALWAYS_FROM || (++servedHere & 15) == 0;
        try {
            handler.serve(request, !look ? null : () -> {
                try {
                    if (input.poll()) {
                        lastOverlapNanos = System.nanoTime();
                    }
                } catch (IOException e) {
                    // The next read of a request meets the same failure and ends the connection.
                }
            });
        } finally {
            finish(request); // its reply was written on this thread, or never will be
        }
    }

    /**
     * Takes a request's place in flight and its buffer bytes: first from this connection's
     * allowance, then from the shared budget, so a connection whose replies are backed up waits
     * here, before it holds any of what other connections need. A request larger than the
     * allowance takes all of it (it waits until nothing else of this connection is in flight).
     */
    private void acquire(int cost) {
        inFlight.acquireUninterruptibly();
        allowance.acquireUninterruptibly(Math.min(cost, shared.connectionBytes()));
        shared.budget().acquireUninterruptibly(cost);
    }

    /** Frees what a request held once its reply is written (or never will be); exactly once per request. */
    private void finish(Request request) {
        ReadBuffers.give(request.data);
        request.data = null;
        request.payload = null;
        shared.budget().release(request.cost);
        allowance.release(Math.min(request.cost, shared.connectionBytes()));
        inFlight.release();
    }

    private void submit(RequestHandler handler, Request request) {
        try {
            shared.workers().execute(() -> {
                try {
                    handler.serve(request);
                } catch (RuntimeException | Error e) {
                    LOG.log(Level.WARNING, peer + ": " + request + " failed: " + e, e);
                    closeChannel();
                } finally {
                    request.payload = null;
                    if (!request.lastPosted) {
                        replies.completeInOrder(request);
                    }
                }
            });
        } catch (RejectedExecutionException e) {
            finish(request);
            closeChannel();
        }
    }

    private void onReplyFailed() {
        if (!closing) {
            LOG.info(peer + ": cannot send replies any more; closing the connection");
        }
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
     * Closes a connection that holds resources for too long: a handshake that does not finish, a
     * request the client started but has not finished sending for {@code stallNanos}, or a reply
     * it has not read for as long (it stopped reading, so its requests would otherwise pin workers
     * and buffer budget that other connections need).
     */
    void closeIfStalled(long now, long handshakeNanos, long stallNanos) {
        long since = replies.sendingSinceNanos();
        long partial = partialSinceNanos;
        if (!handshakeDone && now - createdNanos > handshakeNanos) {
            LOG.info(peer + ": handshake not finished in time; closing");
            closeChannel();
        } else if (partial != 0 && now - partial > stallNanos) {
            LOG.info(peer + ": client stopped in the middle of a request; closing");
            closeChannel();
        } else if (since != 0 && now - since > stallNanos) {
            LOG.info(peer + ": client stopped reading replies; closing");
            replies.markBroken();
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
}
