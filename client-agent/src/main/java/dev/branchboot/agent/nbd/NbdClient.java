package dev.branchboot.agent.nbd;

import java.io.Closeable;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * The client side of NBD as the kernel's {@code nbd-client} speaks it: fixed newstyle, one
 * {@code NBD_OPT_GO}, simple replies, requests in flight one batch at a time. The agent uses it to
 * drive its own export in a training run (see {@code train}); it is not a general client (no
 * structured replies, no TLS, no block status).
 */
public final class NbdClient implements Closeable {
    private static final int REQUEST_BYTES = 28;
    private static final int REPLY_BYTES = 16;

    private final SocketChannel channel;
    private final String description;
    private final long size;
    private final int transmissionFlags;
    private long nextHandle = 1;

    private NbdClient(SocketChannel channel, String description, long size, int transmissionFlags) {
        this.channel = channel;
        this.description = description;
        this.size = size;
        this.transmissionFlags = transmissionFlags;
    }

    /**
     * Connects to {@code address} (unix or TCP) and selects {@code exportName} with
     * {@code NBD_OPT_GO}; a server that refuses the option or speaks another protocol is an
     * {@link IOException} naming the address.
     */
    public static NbdClient connect(SocketAddress address, String exportName) throws IOException {
        String description = address instanceof UnixDomainSocketAddress unix ? "unix:" + unix.getPath() : String.valueOf(address);
        SocketChannel channel = SocketChannel.open(address);
        try {
            ByteBuffer greeting = read(channel, 18);
            if (greeting.getLong() != NbdProtocol.NBDMAGIC || greeting.getLong() != NbdProtocol.IHAVEOPT) {
                throw new IOException(description + " is not a fixed-newstyle NBD server");
            }
            int serverFlags = greeting.getShort() & 0xffff;
            int clientFlags = NbdProtocol.CLIENT_FIXED_NEWSTYLE
                    | (serverFlags & NbdProtocol.FLAG_NO_ZEROES) & NbdProtocol.CLIENT_NO_ZEROES;
            byte[] name = exportName.getBytes(StandardCharsets.UTF_8);
            ByteBuffer go = ByteBuffer.allocate(4 + 16 + 4 + name.length + 2);
            go.putInt(clientFlags).putLong(NbdProtocol.IHAVEOPT).putInt(NbdProtocol.OPT_GO).putInt(4 + name.length + 2)
                    .putInt(name.length).put(name).putShort((short) 0).flip();
            Wire.writeFully(channel, go);
            long exportSize = -1;
            int flags = 0;
            while (true) {
                ByteBuffer head = read(channel, 20);
                if (head.getLong() != NbdProtocol.REP_MAGIC || head.getInt() != NbdProtocol.OPT_GO) {
                    throw new IOException(description + " answered NBD_OPT_GO with a malformed option reply");
                }
                int type = head.getInt();
                int length = head.getInt();
                if (length < 0 || length > 64 * 1024) {
                    throw new IOException(description + " sent an option reply of " + length + " bytes");
                }
                ByteBuffer data = read(channel, length);
                if (type == NbdProtocol.REP_ACK) {
                    break;
                }
                if (type < 0) {
                    throw new IOException(description + " refused export '" + exportName + "': error 0x"
                            + Integer.toHexString(type) + " " + StandardCharsets.UTF_8.decode(data));
                }
                if (type == NbdProtocol.REP_INFO && length >= 12 && (data.getShort() & 0xffff) == NbdProtocol.INFO_EXPORT) {
                    exportSize = data.getLong();
                    flags = data.getShort() & 0xffff;
                }
            }
            if (exportSize < 0) {
                throw new IOException(description + " ended NBD_OPT_GO without the export's size");
            }
            return new NbdClient(channel, description, exportSize, flags);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** The export's size in bytes. */
    public long size() {
        return size;
    }

    /** Whether the server accepts writes. */
    public boolean writable() {
        return (transmissionFlags & NbdProtocol.TF_READ_ONLY) == 0;
    }

    /**
     * Reads {@code lengths[i]} bytes at {@code offsets[i]} for every i, all requests sent before
     * the first reply is read (as the kernel queues them), into one buffer in that order.
     */
    public ByteBuffer readBatch(long[] offsets, int[] lengths) throws IOException {
        int total = 0;
        ByteBuffer requests = ByteBuffer.allocate(REQUEST_BYTES * offsets.length);
        long firstHandle = nextHandle;
        for (int i = 0; i < offsets.length; i++) {
            putRequest(requests, NbdProtocol.CMD_READ, offsets[i], lengths[i]);
            total += lengths[i];
        }
        Wire.writeFully(channel, requests.flip());
        ByteBuffer data = ByteBuffer.allocate(total);
        // simple replies come in any order: place each by its handle
        int[] starts = new int[offsets.length];
        for (int i = 1; i < offsets.length; i++) {
            starts[i] = starts[i - 1] + lengths[i - 1];
        }
        for (int i = 0; i < offsets.length; i++) {
            Reply reply = readReply();
            long index = reply.handle() - firstHandle;
            if (index < 0 || index >= offsets.length) {
                throw new IOException(description + " replied with a handle it was not sent");
            }
            reply.check(description, "read of " + lengths[(int) index] + " bytes", offsets[(int) index]);
            Wire.readFully(channel, data.slice(starts[(int) index], lengths[(int) index]));
        }
        return data;
    }

    /** Writes {@code data} at {@code offset}. */
    public void write(long offset, ByteBuffer data) throws IOException {
        ByteBuffer request = ByteBuffer.allocate(REQUEST_BYTES);
        putRequest(request, NbdProtocol.CMD_WRITE, offset, data.remaining());
        Wire.writeFully(channel, request.flip());
        Wire.writeFully(channel, data.duplicate());
        readReply().check(description, "write of " + data.remaining() + " bytes", offset);
    }

    /** Asks the server to make every completed write durable. */
    public void flush() throws IOException {
        ByteBuffer request = ByteBuffer.allocate(REQUEST_BYTES);
        putRequest(request, NbdProtocol.CMD_FLUSH, 0, 0);
        Wire.writeFully(channel, request.flip());
        readReply().check(description, "flush", 0);
    }

    /** Sends {@code NBD_CMD_DISC} and closes the connection. */
    @Override
    public void close() throws IOException {
        try (SocketChannel ignored = channel) {
            ByteBuffer request = ByteBuffer.allocate(REQUEST_BYTES);
            putRequest(request, NbdProtocol.CMD_DISC, 0, 0);
            Wire.writeFully(channel, request.flip());
        }
    }

    private void putRequest(ByteBuffer buffer, int type, long offset, int length) {
        buffer.putInt(NbdProtocol.REQUEST_MAGIC).putShort((short) 0).putShort((short) type).putLong(nextHandle++)
                .putLong(offset).putInt(length);
    }

    /** A simple reply's header: the request's handle and the server's error (0: success). */
    private record Reply(long handle, int error) {
        void check(String server, String request, long offset) throws IOException {
            if (error != 0) {
                throw new IOException(server + " failed the " + request + " at offset " + offset + " with NBD error " + error);
            }
        }
    }

    private Reply readReply() throws IOException {
        ByteBuffer reply = read(channel, REPLY_BYTES);
        if (reply.getInt() != NbdProtocol.SIMPLE_REPLY_MAGIC) {
            throw new IOException(description + " sent a reply that is not a simple reply");
        }
        return new Reply(reply.getLong(8), reply.getInt(4));
    }

    private static ByteBuffer read(SocketChannel channel, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        Wire.readFully(channel, buffer);
        return buffer.flip();
    }
}
