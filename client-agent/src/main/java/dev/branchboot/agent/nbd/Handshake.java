package dev.branchboot.agent.nbd;

import static dev.branchboot.agent.nbd.NbdProtocol.*;

import dev.branchboot.agent.text.PeerText;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The fixed newstyle handshake for one connection: greeting, client flags, then options until
 * NBD_OPT_GO or NBD_OPT_EXPORT_NAME opens the export (a {@link Session}), or the client aborts or
 * breaks a rule the protocol says to disconnect for ({@code null}).
 *
 * <p>Every option's data is read whole (its length is capped) before it is parsed, so a lying
 * length inside the data can only produce NBD_REP_ERR_INVALID, never a desynchronised stream.
 */
final class Handshake {
    private static final Logger LOG = Logger.getLogger(Handshake.class.getName());
    /** Options one connection may send before it must open the export; endless haggling is a DoS. */
    static final int MAX_OPTIONS = 1024;

    private final ByteChannel ch;
    private final NbdExport export;
    private final String peer;
    private boolean noZeroes;
    private boolean structured;
    private boolean contextSelected;
    private String contextExport;

    Handshake(ByteChannel ch, NbdExport export, String peer) {
        this.ch = ch;
        this.export = export;
        this.peer = peer;
    }

    /** Thrown for input after which the protocol prescribes closing the connection. */
    static final class Disconnect extends IOException {
        private static final long serialVersionUID = 1L;

        Disconnect(String message) {
            super(message);
        }
    }

    /** Runs the handshake; {@code null} when the client ended it without opening the export. */
    Session run() throws IOException {
        ByteBuffer greeting = ByteBuffer.allocate(18);
        greeting.putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)).flip();
        Wire.writeFully(ch, greeting);
        ByteBuffer clientFlags = ByteBuffer.allocate(4);
        if (!Wire.readMessageStart(ch, clientFlags)) {
            return null;
        }
        int flags = clientFlags.getInt(0);
        if ((flags & ~(CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES)) != 0) {
            throw new Disconnect("unknown client flags 0x" + Integer.toHexString(flags));
        }
        noZeroes = (flags & CLIENT_NO_ZEROES) != 0;
        for (int count = 0; count < MAX_OPTIONS; count++) {
            ByteBuffer header = ByteBuffer.allocate(16);
            if (!Wire.readMessageStart(ch, header)) {
                return null;
            }
            header.flip();
            long magic = header.getLong();
            int option = header.getInt();
            long length = Integer.toUnsignedLong(header.getInt());
            if (magic != IHAVEOPT) {
                throw new Disconnect("bad option magic 0x" + Long.toHexString(magic));
            }
            if (length > MAX_OPTION_LENGTH) {
                if (option != OPT_EXPORT_NAME) {
                    reply(option, REP_ERR_TOO_BIG, message("option data of " + length + " bytes is too long"));
                }
                // Skipping gigabytes of option data is what a denial of service looks like.
                throw new Disconnect("option " + option + " with " + length + " bytes of data");
            }
            ByteBuffer data = ByteBuffer.allocate((int) length);
            Wire.readFully(ch, data);
            data.flip();
            Session session = option(option, data);
            if (session != null) {
                return session;
            }
            if (option == OPT_ABORT) {
                return null;
            }
        }
        throw new Disconnect("more than " + MAX_OPTIONS + " options");
    }

    private Session option(int option, ByteBuffer data) throws IOException {
        switch (option) {
            case OPT_EXPORT_NAME -> {
                String name;
                try {
                    name = decode(data, data.remaining());
                } catch (BadString e) {
                    throw new Disconnect("NBD_OPT_EXPORT_NAME with an export name that " + e.getMessage());
                }
                if (!export.answersTo(name)) {
                    throw new Disconnect("NBD_OPT_EXPORT_NAME for unknown export '" + PeerText.escape(name) + "'");
                }
                int tflags = export.transmissionFlags(structured);
                ByteBuffer reply = ByteBuffer.allocate(10 + (noZeroes ? 0 : 124));
                reply.putLong(export.device().size()).putShort((short) tflags).position(reply.capacity()).flip();
                Wire.writeFully(ch, reply);
                return new Session(structured, contextSelected && export.answersTo(contextExport), tflags);
            }
            case OPT_ABORT -> {
                try {
                    reply(option, REP_ACK, ByteBuffer.allocate(0));
                } catch (IOException e) {
                    // The client may close before reading the ACK; that is allowed.
                }
                return null;
            }
            case OPT_LIST -> {
                if (data.hasRemaining()) {
                    reply(option, REP_ERR_INVALID, message("NBD_OPT_LIST takes no data"));
                    return null;
                }
                byte[] name = export.name().getBytes(StandardCharsets.UTF_8);
                reply(option, REP_SERVER, ByteBuffer.allocate(4 + name.length).putInt(name.length).put(name).flip());
                reply(option, REP_ACK, ByteBuffer.allocate(0));
                return null;
            }
            case OPT_STARTTLS -> {
                reply(option, data.hasRemaining() ? REP_ERR_INVALID : REP_ERR_UNSUP, message("TLS is not supported by this server"));
                return null;
            }
            case OPT_INFO, OPT_GO -> {
                return infoOrGo(option, data);
            }
            case OPT_STRUCTURED_REPLY -> {
                if (data.hasRemaining()) {
                    reply(option, REP_ERR_INVALID, message("NBD_OPT_STRUCTURED_REPLY takes no data"));
                } else if (structured) {
                    reply(option, REP_ERR_INVALID, message("structured replies are already negotiated"));
                } else {
                    structured = true;
                    reply(option, REP_ACK, ByteBuffer.allocate(0));
                }
                return null;
            }
            case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> {
                metaContext(option, data);
                return null;
            }
            default -> {
                reply(option, REP_ERR_UNSUP, message("option " + option + " is not supported"));
                return null;
            }
        }
    }

    private Session infoOrGo(int option, ByteBuffer data) throws IOException {
        if (data.remaining() < 6) {
            reply(option, REP_ERR_INVALID, message("option data too short"));
            return null;
        }
        long nameLength = Integer.toUnsignedLong(data.getInt());
        if (nameLength > data.remaining() - 2) {
            reply(option, REP_ERR_INVALID, message("export name length " + nameLength + " overruns the option"));
            return null;
        }
        String name = null;
        String badName = null;
        try {
            name = decode(data, (int) nameLength);
        } catch (BadString e) {
            badName = e.getMessage();
        }
        int count = Short.toUnsignedInt(data.getShort());
        if (data.remaining() != 2 * count) {
            reply(option, REP_ERR_INVALID, message(count + " information requests do not match the option length"));
            return null;
        }
        boolean wantName = false;
        for (int i = 0; i < count; i++) {
            wantName |= data.getShort() == INFO_NAME;
        }
        if (badName != null) {
            reply(option, REP_ERR_INVALID, message("the export name " + badName));
            return null;
        }
        if (!export.answersTo(name)) {
            reply(option, REP_ERR_UNKNOWN, message("no export named '" + PeerText.escape(name) + "'; this server exports '"
                    + PeerText.escape(export.name()) + "'"));
            return null;
        }
        int tflags = export.transmissionFlags(structured);
        reply(option, REP_INFO, ByteBuffer.allocate(12).putShort((short) INFO_EXPORT)
                .putLong(export.device().size()).putShort((short) tflags).flip());
        reply(option, REP_INFO, ByteBuffer.allocate(14).putShort((short) INFO_BLOCK_SIZE)
                .putInt(MIN_BLOCK).putInt(PREFERRED_BLOCK).putInt(MAX_PAYLOAD).flip());
        if (wantName) {
            byte[] n = export.name().getBytes(StandardCharsets.UTF_8);
            reply(option, REP_INFO, ByteBuffer.allocate(2 + n.length).putShort((short) INFO_NAME).put(n).flip());
        }
        reply(option, REP_ACK, ByteBuffer.allocate(0));
        if (option == OPT_GO) {
            return new Session(structured, contextSelected && export.answersTo(contextExport), tflags);
        }
        return null;
    }

    private void metaContext(int option, ByteBuffer data) throws IOException {
        boolean set = option == OPT_SET_META_CONTEXT;
        if (set) {
            // A SET replaces the selection even when it fails.
            contextSelected = false;
            contextExport = null;
        }
        if (!structured) {
            reply(option, REP_ERR_INVALID, message("negotiate structured replies first"));
            return;
        }
        List<String> queries = new ArrayList<>();
        String name;
        try {
            long nameLength = Integer.toUnsignedLong(data.getInt());
            if (nameLength > data.remaining()) {
                throw new java.nio.BufferUnderflowException();
            }
            name = decode(data, (int) nameLength);
            long count = Integer.toUnsignedLong(data.getInt());
            for (long i = 0; i < count; i++) {
                long ql = Integer.toUnsignedLong(data.getInt());
                if (ql > data.remaining()) {
                    throw new java.nio.BufferUnderflowException();
                }
                queries.add(decode(data, (int) ql));
            }
            if (data.hasRemaining()) {
                throw new java.nio.BufferUnderflowException();
            }
        } catch (java.nio.BufferUnderflowException e) {
            reply(option, REP_ERR_INVALID, message("malformed meta context request"));
            return;
        } catch (BadString e) {
            reply(option, REP_ERR_INVALID, message("a name in the meta context request " + e.getMessage()));
            return;
        }
        if (!export.answersTo(name)) {
            reply(option, REP_ERR_UNKNOWN, message("no export named '" + PeerText.escape(name) + "'"));
            return;
        }
        boolean match = false;
        for (String q : queries) {
            match |= q.equals(BASE_ALLOCATION) || (!set && q.equals("base:"));
        }
        if (queries.isEmpty() && !set) {
            match = true;
        }
        if (match) {
            byte[] n = BASE_ALLOCATION.getBytes(StandardCharsets.UTF_8);
            reply(option, REP_META_CONTEXT, ByteBuffer.allocate(4 + n.length).putInt(set ? BASE_ALLOCATION_ID : 0).put(n).flip());
            if (set) {
                contextSelected = true;
                contextExport = name;
            }
        }
        reply(option, REP_ACK, ByteBuffer.allocate(0));
    }

    private void reply(int option, int type, ByteBuffer payload) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(20);
        header.putLong(REP_MAGIC).putInt(option).putInt(type).putInt(payload.remaining()).flip();
        Wire.writeFully(ch, header, payload);
        if (type < 0 && LOG.isLoggable(Level.FINE)) {
            LOG.fine(peer + ": option " + option + " refused with 0x" + Integer.toHexString(type));
        }
    }

    private static ByteBuffer message(String text) {
        return ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Why a string of the protocol (an export name, a meta context query) is refused: "is ...". */
    private static final class BadString extends Exception {
        private static final long serialVersionUID = 1L;

        BadString(String why) {
            super(why, null, false, false);
        }
    }

    /**
     * Decodes {@code length} bytes (which are consumed either way) as a string of the NBD protocol:
     * at most {@link NbdProtocol#MAX_STRING} bytes of strict UTF-8 without NUL.
     *
     * @throws BadString saying which rule the bytes break
     */
    private static String decode(ByteBuffer data, int length) throws BadString {
        ByteBuffer bytes = data.slice(data.position(), length);
        data.position(data.position() + length);
        if (length > MAX_STRING) {
            throw new BadString("is " + length + " bytes long; the NBD protocol allows at most " + MAX_STRING);
        }
        String s;
        try {
            s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(bytes).toString();
        } catch (CharacterCodingException e) {
            throw new BadString("is not valid UTF-8");
        }
        if (s.indexOf('\0') >= 0) {
            throw new BadString("contains a NUL character");
        }
        return s;
    }
}
