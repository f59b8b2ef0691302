package dev.branchboot.agent.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/** A byte-level NBD client for tests: sends exactly what it is told, and parses what comes back. */
public final class NbdTestClient implements Closeable {
    public static final long NBDMAGIC = 0x4E42444D41474943L;
    public static final long IHAVEOPT = 0x49484156454F5054L;
    public static final long REP_MAGIC = 0x0003E889045565A9L;
    public static final int REQUEST_MAGIC = 0x25609513;
    public static final int SIMPLE_MAGIC = 0x67446698;
    public static final int STRUCTURED_MAGIC = 0x668E33EF;

    private final SocketChannel ch;
    public final DataInputStream in;
    public final DataOutputStream out;

    private NbdTestClient(SocketChannel ch) {
        this.ch = ch;
        // Not Channels.newInputStream/newOutputStream: both lock the channel's blockingLock, so a
        // thread blocked reading replies would stop another thread from sending requests.
        this.in = new DataInputStream(new java.io.BufferedInputStream(new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                return len == 0 ? 0 : ch.read(ByteBuffer.wrap(b, off, len));
            }
        }, 65536));
        this.out = new DataOutputStream(new java.io.BufferedOutputStream(new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                ByteBuffer buf = ByteBuffer.wrap(b, off, len);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            }
        }, 65536));
    }

    public static NbdTestClient connect(SocketAddress address) throws IOException {
        SocketChannel ch = address instanceof UnixDomainSocketAddress
                ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
        ch.connect(address);
        return new NbdTestClient(ch);
    }

    /** Reads the greeting and returns the handshake flags. */
    public int greeting() throws IOException {
        assertEquals(NBDMAGIC, in.readLong());
        assertEquals(IHAVEOPT, in.readLong());
        return in.readUnsignedShort();
    }

    public void clientFlags(int flags) throws IOException {
        out.writeInt(flags);
        out.flush();
    }

    public void option(int option, byte[] data) throws IOException {
        out.writeLong(IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    /** An option reply. */
    public record OptReply(int option, int type, byte[] data) {
    }

    public OptReply optReply() throws IOException {
        assertEquals(REP_MAGIC, in.readLong());
        int option = in.readInt();
        int type = in.readInt();
        byte[] data = new byte[in.readInt()];
        in.readFully(data);
        return new OptReply(option, type, data);
    }

    public static byte[] goData(String name, int... infos) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length);
        b.putInt(n.length).put(n).putShort((short) infos.length);
        for (int i : infos) {
            b.putShort((short) i);
        }
        return b.array();
    }

    public static byte[] metaData(String name, String... queries) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        int len = 4 + n.length + 4;
        for (String q : queries) {
            len += 4 + q.getBytes(StandardCharsets.UTF_8).length;
        }
        ByteBuffer b = ByteBuffer.allocate(len);
        b.putInt(n.length).put(n).putInt(queries.length);
        for (String q : queries) {
            byte[] qb = q.getBytes(StandardCharsets.UTF_8);
            b.putInt(qb.length).put(qb);
        }
        return b.array();
    }

    /** Negotiated export facts. */
    public record Opened(long size, int flags) {
    }

    /**
     * The usual handshake: fixed newstyle with NO_ZEROES, optionally structured replies and
     * base:allocation, then GO for {@code name}.
     */
    public Opened open(String name, boolean structured) throws IOException {
        greeting();
        clientFlags(3);
        if (structured) {
            option(8, new byte[0]);
            assertEquals(1, optReply().type());
            option(10, metaData(name, "base:allocation"));
            OptReply ctx = optReply();
            assertEquals(4, ctx.type());
            assertEquals(1, optReply().type());
        }
        option(7, goData(name, 3));
        long size = -1;
        int flags = -1;
        while (true) {
            OptReply r = optReply();
            if (r.type() == 1) {
                break;
            }
            assertEquals(3, r.type(), "expected NBD_REP_INFO, got 0x" + Integer.toHexString(r.type()));
            ByteBuffer d = ByteBuffer.wrap(r.data());
            if (d.getShort() == 0) {
                size = d.getLong();
                flags = d.getShort() & 0xffff;
            }
        }
        return new Opened(size, flags);
    }

    public void request(int flags, int type, long cookie, long offset, long length, byte[] payload) throws IOException {
        out.writeInt(REQUEST_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(cookie);
        out.writeLong(offset);
        out.writeInt((int) length);
        if (payload != null) {
            out.write(payload);
        }
        out.flush();
    }

    /** A reply header: simple (type -1) or a structured chunk with its payload. */
    public record Reply(boolean simple, int error, long cookie, int flags, int type, byte[] payload) {
        public boolean done() {
            return simple || (flags & 1) != 0;
        }
    }

    /** Reads the next reply header; a simple reply's data (if any) is left for the caller. */
    public Reply reply() throws IOException {
        int magic = in.readInt();
        if (magic == SIMPLE_MAGIC) {
            int error = in.readInt();
            long cookie = in.readLong();
            return new Reply(true, error, cookie, 0, -1, null);
        }
        assertEquals(STRUCTURED_MAGIC, magic, "reply magic");
        int flags = in.readUnsignedShort();
        int type = in.readUnsignedShort();
        long cookie = in.readLong();
        byte[] payload = new byte[in.readInt()];
        in.readFully(payload);
        int error = 0;
        if ((type & 0x8000) != 0) {
            error = ByteBuffer.wrap(payload).getInt();
        }
        return new Reply(false, error, cookie, flags, type, payload);
    }

    /** A simple READ: request, reply, data. */
    public byte[] simpleRead(long offset, int length) throws IOException {
        request(0, 0, 7, offset, length, null);
        Reply r = reply();
        assertEquals(0, r.error(), "read error");
        byte[] data = new byte[length];
        in.readFully(data);
        return data;
    }

    /** A structured READ assembled from its chunks; throws on an error chunk. */
    public byte[] structuredRead(long offset, int length, long cookie) throws IOException {
        request(0, 0, cookie, offset, length, null);
        byte[] data = new byte[length];
        while (true) {
            Reply r = reply();
            assertEquals(cookie, r.cookie());
            if (r.error() != 0) {
                throw new IOException("read failed with error " + r.error());
            }
            ByteBuffer p = ByteBuffer.wrap(r.payload());
            if (r.type() == 1) {
                long at = p.getLong();
                p.get(data, (int) (at - offset), p.remaining());
            } else if (r.type() == 2) {
                p.getLong();
                p.getInt(); // zeros already
            }
            if (r.done()) {
                return data;
            }
        }
    }

    /** True when the server closed the connection (reads EOF), reading and dropping anything before it. */
    public boolean closedByServer() throws IOException {
        try {
            while (in.read() >= 0) {
                // drain
            }
            return true;
        } catch (EOFException e) {
            return true;
        } catch (IOException e) {
            return true; // reset by peer
        }
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }
}
