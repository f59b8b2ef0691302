package dev.branchboot.agent.nbd;

/** Numbers of the NBD protocol (NetworkBlockDevice/nbd doc/proto.md), fixed newstyle only. */
final class NbdProtocol {
    private NbdProtocol() {
    }

    static final long NBDMAGIC = 0x4E42444D41474943L;
    static final long IHAVEOPT = 0x49484156454F5054L;
    static final long REP_MAGIC = 0x0003E889045565A9L;
    static final int REQUEST_MAGIC = 0x25609513;
    static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    static final int STRUCTURED_REPLY_MAGIC = 0x668E33EF;

    // Handshake flags (server) and client flags.
    static final int FLAG_FIXED_NEWSTYLE = 1;
    static final int FLAG_NO_ZEROES = 2;
    static final int CLIENT_FIXED_NEWSTYLE = 1;
    static final int CLIENT_NO_ZEROES = 2;

    // Options.
    static final int OPT_EXPORT_NAME = 1;
    static final int OPT_ABORT = 2;
    static final int OPT_LIST = 3;
    static final int OPT_STARTTLS = 5;
    static final int OPT_INFO = 6;
    static final int OPT_GO = 7;
    static final int OPT_STRUCTURED_REPLY = 8;
    static final int OPT_LIST_META_CONTEXT = 9;
    static final int OPT_SET_META_CONTEXT = 10;

    // Option replies.
    static final int REP_ACK = 1;
    static final int REP_SERVER = 2;
    static final int REP_INFO = 3;
    static final int REP_META_CONTEXT = 4;
    static final int REP_ERR_UNSUP = 0x80000001;
    static final int REP_ERR_POLICY = 0x80000002;
    static final int REP_ERR_INVALID = 0x80000003;
    static final int REP_ERR_UNKNOWN = 0x80000006;
    static final int REP_ERR_SHUTDOWN = 0x80000007;
    static final int REP_ERR_TOO_BIG = 0x80000009;

    // Info types.
    static final int INFO_EXPORT = 0;
    static final int INFO_NAME = 1;
    static final int INFO_BLOCK_SIZE = 3;

    // Transmission flags.
    static final int TF_HAS_FLAGS = 0x0001;
    static final int TF_READ_ONLY = 0x0002;
    static final int TF_SEND_FLUSH = 0x0004;
    static final int TF_SEND_FUA = 0x0008;
    static final int TF_SEND_TRIM = 0x0020;
    static final int TF_SEND_WRITE_ZEROES = 0x0040;
    static final int TF_SEND_DF = 0x0080;
    static final int TF_CAN_MULTI_CONN = 0x0100;
    static final int TF_SEND_CACHE = 0x0400;
    static final int TF_SEND_FAST_ZERO = 0x0800;

    // Commands.
    static final int CMD_READ = 0;
    static final int CMD_WRITE = 1;
    static final int CMD_DISC = 2;
    static final int CMD_FLUSH = 3;
    static final int CMD_TRIM = 4;
    static final int CMD_CACHE = 5;
    static final int CMD_WRITE_ZEROES = 6;
    static final int CMD_BLOCK_STATUS = 7;

    // Command flags.
    static final int CMD_FLAG_FUA = 0x0001;
    static final int CMD_FLAG_NO_HOLE = 0x0002;
    static final int CMD_FLAG_DF = 0x0004;
    static final int CMD_FLAG_REQ_ONE = 0x0008;
    static final int CMD_FLAG_FAST_ZERO = 0x0010;

    // Structured reply chunks.
    static final int REPLY_FLAG_DONE = 0x0001;
    static final int REPLY_TYPE_NONE = 0;
    static final int REPLY_TYPE_OFFSET_DATA = 1;
    static final int REPLY_TYPE_OFFSET_HOLE = 2;
    static final int REPLY_TYPE_BLOCK_STATUS = 5;
    static final int REPLY_TYPE_ERROR = 0x8001;
    static final int REPLY_TYPE_ERROR_OFFSET = 0x8002;

    // Errors.
    static final int EPERM = 1;
    static final int EIO = 5;
    static final int EINVAL = 22;
    static final int ENOSPC = 28;
    static final int EOVERFLOW = 75;
    static final int ESHUTDOWN = 108;

    // base:allocation states.
    static final int STATE_HOLE = 1;
    static final int STATE_ZERO = 2;

    static final String BASE_ALLOCATION = "base:allocation";
    /** The id of base:allocation once selected; any non-zero value would do. */
    static final int BASE_ALLOCATION_ID = 1;

    /** Block size constraints advertised: qemu-nbd's, which every client accepts. */
    static final int MIN_BLOCK = 1;
    static final int PREFERRED_BLOCK = 4096;
    static final int MAX_PAYLOAD = 32 << 20;
    /** Options longer than this are refused: no option this server knows needs more. */
    static final int MAX_OPTION_LENGTH = 64 * 1024;
    /** Strings (names, queries) may not exceed this, per the spec. */
    static final int MAX_STRING = 4096;
}
