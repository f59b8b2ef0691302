package dev.branchboot.agent.nbd;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The NBD server: listens on a unix socket or TCP, runs the fixed newstyle handshake and the
 * transmission phase for each client ({@link NbdConnection}), and serves one {@link NbdExport}.
 * All connections share one worker pool and one budget of buffered bytes, so memory stays bounded
 * however many clients connect and however much they send.
 *
 * <p>A unix socket is bound under a temporary name and renamed into place once listening, so the
 * socket path appears only when the export is ready to serve.
 */
public final class NbdServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(NbdServer.class.getName());

    /**
     * Limits of one server.
     *
     * @param workers        threads serving requests, shared by all connections
     * @param bufferBytes    bytes of request and reply data held at once, over all connections
     * @param maxConnections connections served at once; more are closed at once
     */
    public record Limits(int workers, int bufferBytes, int maxConnections) {
        /**
         * The most one connection holds in requests read and replies not yet written. 16 MiB keeps
         * all 16 workers busy with 1 MiB reads from one client; more would only queue. A quarter
         * of the budget at most, so that clients that stop reading their replies hold at most that
         * much each and the other connections keep the rest.
         */
        private static final int MOST_PER_CONNECTION = 16 << 20;

        /**
         * Bytes of requests in flight and replies not yet written one connection may hold: a
         * quarter of {@link #bufferBytes()}, at most 16 MiB. A larger request (up to 32 MiB) is
         * served alone.
         */
        public int connectionBytes() {
            return Math.min(MOST_PER_CONNECTION, bufferBytes / 4);
        }

        /** 16 workers, 128 MiB of buffers, 64 connections. */
        public static final Limits DEFAULTS = new Limits(16, 128 << 20, 64);

        /**
         * Defaults scaled to a heap of {@code maxHeap} bytes: buffers get a quarter of it, at least
         * one maximal request and at most 128 MiB, so a small {@code -Xmx} is not exhausted by
         * requests in flight.
         */
        public static Limits forHeap(long maxHeap) {
            long buffers = Math.max(NbdProtocol.MAX_PAYLOAD, Math.min(128L << 20, maxHeap / 4));
            return new Limits(DEFAULTS.workers(), (int) buffers, DEFAULTS.maxConnections());
        }

        /** Validates the limits: the budget must hold at least one maximal request. */
        public Limits {
            if (workers < 1 || maxConnections < 1) {
                throw new IllegalArgumentException("need at least one worker and one connection");
            }
            if (bufferBytes < NbdProtocol.MAX_PAYLOAD) {
                throw new IllegalArgumentException("the buffer budget must hold one request of " + NbdProtocol.MAX_PAYLOAD + " bytes");
            }
        }
    }

    /**
     * What every connection of this server shares.
     *
     * @param connectionBytes how many bytes of the budget one connection may hold
     */
    record Shared(NbdExport export, ExecutorService workers, Semaphore budget, int connectionBytes,
                  Set<NbdConnection> connections) {
        void closed(NbdConnection c) {
            connections.remove(c);
        }
    }

    private final NbdExport export;
    private final Limits limits;
    private final Shared shared;
    private final ScheduledExecutorService watchdog;
    private final AtomicInteger connectionIds = new AtomicInteger();
    private final Set<Thread> connectionThreads = ConcurrentHashMap.newKeySet();
    private ServerSocketChannel listener;
    private Path socketPath;
    private Thread acceptor;
    private volatile boolean stopping;
    private long handshakeNanos = TimeUnit.SECONDS.toNanos(60);
    private long stallNanos = TimeUnit.SECONDS.toNanos(120);

    /** A server for {@code export}; nothing listens until {@link #listen}. */
    public NbdServer(NbdExport export, Limits limits) {
        this.export = export;
        this.limits = limits;
        // A fork-join pool wakes the worker that went idle last: a client with two requests in
        // flight keeps two threads (and their buffers, cache lines and compiled code) busy rather
        // than cycling through all of them, as a fixed pool's queue does.
        AtomicInteger workerNumber = new AtomicInteger();
        ExecutorService workers = new ForkJoinPool(limits.workers(), pool -> {
            ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
            t.setName("nbd-worker-" + workerNumber.incrementAndGet());
            return t;
        }, null, true);
        this.shared = new Shared(export, workers, new Semaphore(limits.bufferBytes(), true), limits.connectionBytes(),
                ConcurrentHashMap.newKeySet());
        this.watchdog = Executors.newSingleThreadScheduledExecutor(daemonThreads("nbd-watchdog-"));
    }

    /**
     * How long a handshake may take, and how long a client may stall in the middle of a request or
     * leave a reply unread, before it is disconnected. Call before {@link #listen}.
     */
    synchronized void setTimeouts(long handshakeMillis, long stallMillis) {
        this.handshakeNanos = TimeUnit.MILLISECONDS.toNanos(handshakeMillis);
        this.stallNanos = TimeUnit.MILLISECONDS.toNanos(stallMillis);
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /**
     * Binds {@code address} (a {@link UnixDomainSocketAddress} or an {@link InetSocketAddress}),
     * starts accepting clients, and returns the bound address (with the real port for port 0).
     *
     * @throws IOException when the address is in use (for a unix socket: another live server
     *                     answers on it) or cannot be bound
     */
    public synchronized SocketAddress listen(SocketAddress address) throws IOException {
        if (address instanceof UnixDomainSocketAddress unix) {
            listener = listenUnix(unix.getPath());
        } else {
            listener = ServerSocketChannel.open();
            listener.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            listener.bind(address, 128);
        }
        SocketAddress bound = socketPath != null ? UnixDomainSocketAddress.of(socketPath) : listener.getLocalAddress();
        acceptor = new Thread(this::acceptLoop, "nbd-accept");
        acceptor.setDaemon(true);
        acceptor.start();
        long period = Math.max(10, Math.min(5000, TimeUnit.NANOSECONDS.toMillis(Math.min(handshakeNanos, stallNanos)) / 4));
        watchdog.scheduleWithFixedDelay(this::checkStalled, period, period, TimeUnit.MILLISECONDS);
        return bound;
    }

    private ServerSocketChannel listenUnix(Path path) throws IOException {
        Path absolute = path.toAbsolutePath();
        Path dir = absolute.getParent();
        Files.createDirectories(dir);
        if (Files.exists(absolute, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            if (Files.isRegularFile(absolute, java.nio.file.LinkOption.NOFOLLOW_LINKS) || Files.isDirectory(absolute)) {
                throw new IOException("cannot listen on " + absolute + ": it exists and is not a socket");
            }
            boolean live;
            try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(absolute))) {
                live = true;
            } catch (IOException e) {
                live = false;
            }
            if (live) {
                throw new IOException("cannot listen on " + absolute + ": another server is already listening there");
            }
            // Nobody answers: a stale socket left by a killed agent.
            Files.delete(absolute);
        }
        Path temporary = dir.resolve(".nbd-" + ProcessHandle.current().pid() + ".sock");
        Files.deleteIfExists(temporary);
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.bind(UnixDomainSocketAddress.of(temporary), 128);
            Files.move(temporary, absolute, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            ch.close();
            Files.deleteIfExists(temporary);
            throw new IOException("cannot listen on " + absolute + ": " + e.getMessage(), e);
        }
        socketPath = absolute;
        return ch;
    }

    private void acceptLoop() {
        while (!stopping) {
            SocketChannel ch;
            try {
                ch = listener.accept();
            } catch (IOException e) {
                if (!stopping) {
                    LOG.log(Level.WARNING, "accepting a connection failed: " + e.getMessage());
                    sleepBriefly();
                }
                continue;
            }
            try {
                String peer = describe(ch);
                if (shared.connections().size() >= limits.maxConnections()) {
                    LOG.warning(peer + ": refused: already serving " + limits.maxConnections() + " connections");
                    ch.close();
                    continue;
                }
                if (ch.getRemoteAddress() instanceof InetSocketAddress) {
                    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                }
                NbdConnection connection = new NbdConnection(shared, ch, peer);
                shared.connections().add(connection);
                Thread t = new Thread(() -> {
                    try {
                        connection.run();
                    } finally {
                        connectionThreads.remove(Thread.currentThread());
                    }
                }, "nbd-" + peer);
                t.setDaemon(true);
                connectionThreads.add(t);
                t.start();
                if (stopping) {
                    connection.stopReading();
                }
            } catch (IOException | RuntimeException e) {
                LOG.log(Level.WARNING, "setting up a connection failed: " + e, e);
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // Already failing; the client sees the connection drop.
                }
            }
        }
    }

    private static void sleepBriefly() {
        try {
            Thread.sleep(100); // e.g. out of file descriptors: do not spin
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private String describe(SocketChannel ch) {
        int id = connectionIds.incrementAndGet();
        try {
            SocketAddress remote = ch.getRemoteAddress();
            if (remote instanceof InetSocketAddress inet) {
                return "connection " + id + " from " + inet.getHostString() + ":" + inet.getPort();
            }
        } catch (IOException ignored) {
            // Fall back to the number alone.
        }
        return "connection " + id;
    }

    private void checkStalled() {
        long now = System.nanoTime();
        for (NbdConnection c : shared.connections()) {
            c.closeIfStalled(now, handshakeNanos, stallNanos);
        }
    }

    /** The number of connections being served. */
    public int connections() {
        return shared.connections().size();
    }

    /**
     * Stops accepting, lets every connection finish the requests it has in flight, and waits for
     * them to close. Requests not yet read are not served.
     */
    public void shutdown() {
        synchronized (this) {
            if (stopping) {
                return;
            }
            stopping = true;
        }
        try {
            if (listener != null) {
                listener.close();
            }
        } catch (IOException e) {
            LOG.warning("closing the listening socket failed: " + e.getMessage());
        }
        if (socketPath != null) {
            try {
                Files.deleteIfExists(socketPath);
            } catch (IOException e) {
                LOG.warning("cannot remove " + socketPath + ": " + e.getMessage());
            }
        }
        for (NbdConnection c : shared.connections()) {
            c.stopReading();
        }
        for (Thread t : connectionThreads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        watchdog.shutdownNow();
        shared.workers().shutdown();
    }

    @Override
    public void close() {
        shutdown();
    }

    /** The export this server serves. */
    public NbdExport export() {
        return export;
    }
}
