package dev.branchboot.integrity;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.security.Signature;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * The signed head of an image manifest: what its publisher vouches for about one revision of one
 * image file. A manifest file ({@code IMAGE.manifest}, beside the image) is laid out as
 *
 * <pre>
 * head   magic "BBMANIF2", then big-endian: u32 block size, u64 image size, u32 blocks per page,
 *        32 bytes SHA-256 of the whole image, u64 publication time (milliseconds since the epoch),
 *        u16 length of the image's name, u16 length of the revision file's name, u32 page count,
 *        u32 signature length ({@link #HEAD_LENGTH} bytes in all)
 *        page count x 32 bytes: SHA-256 of each page of block digests
 *        the image's name, then the revision file's name, UTF-8, as clients ask for them (paths
 *        relative to the images folder: {@code lab/win11.qcow2}, {@code lab/win11@2026-11-24.qcow2})
 *        signature: Ed25519 over everything before it
 * pages  page count pages of block digests: 32 bytes SHA-256 per block of the image, blocks per
 *        page of them in each page (the last page may hold fewer)
 * </pre>
 *
 * A reader fetches the head (a few KiB for a 10 GiB image: one page digest per MiB), checks the
 * signature once, and then only the pages of block digests it needs, each checked against its
 * digest in the head ({@link #page}): a PC reading a few hundred MiB of a large image fetches a
 * few hundred KiB of manifest. The whole-image digest is the revision's identity: two files with
 * the same size and modification time (the same ETag) are still two revisions.
 *
 * <p>The names and the publication time are signed so that a server cannot offer another image's
 * valid manifest under this name ({@link #names}: substitution) or an older revision's
 * ({@link #published}: rollback, which readers refuse once they accepted a newer one). Format 1
 * ({@code BBMANIF1}) had neither and is refused with a message that says to sign again.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class ImageManifest {
    /** The magic bytes a manifest starts with. */
    static final byte[] MAGIC = "BBMANIF2".getBytes(StandardCharsets.US_ASCII);
    /** The magic of format 1, which bound neither names nor a time: refused with advice. */
    private static final byte[] MAGIC_V1 = "BBMANIF1".getBytes(StandardCharsets.US_ASCII);
    /** Bytes before the page digests. */
    public static final int HEAD_LENGTH = 76;
    /** The longest name a manifest may carry, in UTF-8 bytes (as NBD's export names). */
    public static final int MAX_NAME_BYTES = 4096;
    /** Bytes of one digest (SHA-256). */
    public static final int DIGEST_LENGTH = 32;
    /** The block size a manifest uses: a PC's random 4 KiB read is checked with the 4 KiB around it. */
    public static final int BLOCK_SIZE = 4096;
    /** Blocks whose digests one page holds: an 8 KiB page for every MiB of image. */
    public static final int BLOCKS_PER_PAGE = 256;
    private static final int ED25519_SIGNATURE_LENGTH = 64;

    private final String name;
    private final int blockSize;
    private final long imageSize;
    private final int blocksPerPage;
    private final byte[] imageDigest;
    private final byte[] pageDigests;
    private final int pageCount;
    private final long signedLength;
    private final String imageName;
    private final String fileName;
    private final Instant published;

    private ImageManifest(String name, int blockSize, long imageSize, int blocksPerPage, byte[] imageDigest, byte[] pageDigests,
            long signedLength, String imageName, String fileName, Instant published) {
        this.name = name;
        this.imageName = imageName;
        this.fileName = fileName;
        this.published = published;
        this.blockSize = blockSize;
        this.imageSize = imageSize;
        this.blocksPerPage = blocksPerPage;
        this.imageDigest = imageDigest;
        this.pageDigests = pageDigests;
        this.pageCount = pageDigests.length / DIGEST_LENGTH;
        this.signedLength = signedLength;
    }

    /**
     * How many bytes of the manifest file hold its signed head, given its first
     * {@link #HEAD_LENGTH} bytes: what a reader fetches before {@link #verify}.
     *
     * @throws ManifestException naming {@code name} when the bytes are not a manifest's head
     */
    public static int headLength(String name, ByteBuffer firstBytes) throws ManifestException {
        ByteBuffer head = firstBytes.duplicate();
        if (head.remaining() < HEAD_LENGTH) {
            throw new ManifestException(name, "the manifest is only " + head.remaining() + " bytes long (truncated?)");
        }
        byte[] magic = new byte[MAGIC.length];
        head.get(magic);
        if (Arrays.equals(magic, MAGIC_V1)) {
            throw new ManifestException(name, "the manifest is of format 1, made by an earlier branchboot, which binds neither "
                    + "the image's name nor its publication time; sign the image again with this version "
                    + "(branchboot-agent manifest IMAGE --sign-key KEY.pem)");
        }
        if (!Arrays.equals(magic, MAGIC)) {
            throw new ManifestException(name, "not a branchboot manifest (bad magic)");
        }
        head.position(head.position() + 4 + 8 + 4 + DIGEST_LENGTH + 8);
        int imageNameLength = Short.toUnsignedInt(head.getShort());
        int fileNameLength = Short.toUnsignedInt(head.getShort());
        long pages = Integer.toUnsignedLong(head.getInt());
        long signature = Integer.toUnsignedLong(head.getInt());
        if (signature != ED25519_SIGNATURE_LENGTH || pages > (1L << 26) || imageNameLength > MAX_NAME_BYTES
                || fileNameLength > MAX_NAME_BYTES) {
            throw new ManifestException(name, "implausible manifest head (" + pages + " pages, " + signature + "-byte signature, "
                    + "names of " + imageNameLength + " and " + fileNameLength + " bytes)");
        }
        return (int) (HEAD_LENGTH + pages * DIGEST_LENGTH + imageNameLength + fileNameLength + signature);
    }

    /**
     * Checks the signed head of the manifest of image {@code name} with {@code publisher}'s key.
     *
     * @param head the first {@link #headLength} bytes of the manifest file
     * @throws ManifestException naming the image when the head is damaged, truncated, or not
     *                           signed by that key
     */
    public static ImageManifest verify(String name, ByteBuffer head, PublicKey publisher) throws ManifestException {
        ByteBuffer bytes = head.duplicate();
        int length = headLength(name, bytes);
        if (bytes.remaining() < length) {
            throw new ManifestException(name, "the manifest's head is truncated (" + bytes.remaining() + " of " + length + " bytes)");
        }
        byte[] signed = new byte[length - ED25519_SIGNATURE_LENGTH];
        byte[] signature = new byte[ED25519_SIGNATURE_LENGTH];
        bytes.get(signed).get(signature);
        try {
            Signature verifier = Signature.getInstance("Ed25519");
            verifier.initVerify(publisher);
            verifier.update(signed);
            if (!verifier.verify(signature)) {
                throw new ManifestException(name, "the manifest's signature does not match the trusted key (signed by another "
                        + "key, or altered)");
            }
        } catch (GeneralSecurityException e) {
            throw new ManifestException(name, "cannot check the manifest's signature: " + e.getMessage(), e);
        }
        return parse(name, ByteBuffer.wrap(signed), length);
    }

    /** The head's fields, from {@code fields} (the signed bytes, magic first) of a head {@code length} long. */
    private static ImageManifest parse(String name, ByteBuffer fields, int length) throws ManifestException {
        fields.position(MAGIC.length);
        int blockSize = fields.getInt();
        long imageSize = fields.getLong();
        int blocksPerPage = fields.getInt();
        byte[] imageDigest = new byte[DIGEST_LENGTH];
        fields.get(imageDigest);
        long publishedMillis = fields.getLong();
        byte[] imageName = new byte[Short.toUnsignedInt(fields.getShort())];
        byte[] fileName = new byte[Short.toUnsignedInt(fields.getShort())];
        int pages = fields.getInt();
        fields.getInt(); // the signature's length, checked by headLength
        byte[] pageDigests = new byte[pages * DIGEST_LENGTH];
        fields.get(pageDigests).get(imageName).get(fileName);
        if (blockSize <= 0 || Integer.bitCount(blockSize) != 1 || blocksPerPage <= 0 || imageSize < 0
                || pages != pageCount(imageSize, blockSize, blocksPerPage)) {
            throw new ManifestException(name, "the manifest's layout is inconsistent (" + pages + " pages of " + blocksPerPage
                    + " blocks of " + blockSize + " bytes for " + imageSize + " bytes)");
        }
        String imageText = decodeName(name, imageName, "image");
        String fileText = decodeName(name, fileName, "revision file");
        return new ImageManifest(name, blockSize, imageSize, blocksPerPage, imageDigest, pageDigests, length, imageText, fileText,
                Instant.ofEpochMilli(publishedMillis));
    }

    private static String decodeName(String name, byte[] bytes, String what) throws ManifestException {
        try {
            String text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
            checkName(text);
            return text;
        } catch (java.nio.charset.CharacterCodingException | IllegalArgumentException e) {
            throw new ManifestException(name, "the manifest's " + what + " name is not a valid image name");
        }
    }

    /**
     * Checks that {@code name} can be a manifest's image or file name: not empty, at most
     * {@link #MAX_NAME_BYTES} bytes of UTF-8, no control characters, no leading or trailing
     * {@code /}.
     *
     * @throws IllegalArgumentException saying what is wrong
     */
    public static void checkName(String name) {
        if (name.isEmpty() || name.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
            throw new IllegalArgumentException("an image name must have 1.." + MAX_NAME_BYTES + " bytes");
        }
        if (name.startsWith("/") || name.endsWith("/")) {
            throw new IllegalArgumentException("an image name is a path relative to the images folder, without a leading or "
                    + "trailing '/'");
        }
        for (int i = 0; i < name.length(); i++) {
            if (Character.isISOControl(name.charAt(i))) {
                throw new IllegalArgumentException("an image name must not contain control characters");
            }
        }
    }

    /**
     * The name clients ask for, by default, for a revision file named {@code fileName}: the
     * publishing convention {@code NAME@REVISION.EXT} gives {@code NAME.EXT}
     * ({@code win11@2026-11-24.qcow2} is a revision of {@code win11.qcow2}; {@code initrd.img@5}
     * of {@code initrd.img}); a name without {@code @} is its own image.
     */
    public static String defaultImageName(String fileName) {
        int slash = fileName.lastIndexOf('/');
        int at = fileName.indexOf('@', slash + 1);
        if (at < 0) {
            return fileName;
        }
        String revision = fileName.substring(at + 1);
        int dot = revision.lastIndexOf('.');
        return fileName.substring(0, at) + (dot < 0 ? "" : revision.substring(dot));
    }

    /**
     * Reads a manifest's head WITHOUT checking its signature: only for describing a manifest just
     * written by this process. Never use the result to check an image's bytes.
     */
    public static ImageManifest unverified(String name, ByteBuffer head) throws ManifestException {
        ByteBuffer bytes = head.duplicate();
        int length = headLength(name, bytes);
        return parse(name, bytes.slice(bytes.position(), length), length);
    }

    static int pageCount(long imageSize, int blockSize, int blocksPerPage) {
        long blocks = (imageSize + blockSize - 1) / blockSize;
        return (int) ((blocks + blocksPerPage - 1) / blocksPerPage);
    }

    /** The image the manifest is about, for messages. */
    public String name() {
        return name;
    }

    /** The image's name, as clients ask for it (relative to the images folder), that the publisher signed. */
    public String imageName() {
        return imageName;
    }

    /** The revision file's own name (relative to the images folder) that the publisher signed. */
    public String fileName() {
        return fileName;
    }

    /** When the publisher signed the manifest: a newer revision of a name has a later time. */
    public Instant published() {
        return published;
    }

    /**
     * Whether a client asking for {@code requested} (a path relative to the images folder) may
     * use this manifest: it names the image, or the revision's own file.
     */
    public boolean names(String requested) {
        return requested.equals(imageName) || requested.equals(fileName);
    }

    /** The bytes per block whose digest the manifest holds. */
    public int blockSize() {
        return blockSize;
    }

    /** The image file's length. */
    public long imageSize() {
        return imageSize;
    }

    /** The revision's identity: {@code sha256:} and the whole image file's SHA-256 in hex. */
    public String revision() {
        return "sha256:" + HexFormat.of().formatHex(imageDigest);
    }

    /** The number of pages of block digests. */
    public int pageCount() {
        return pageCount;
    }

    /** The page holding the digest of the block at image offset {@code offset}. */
    public int pageOf(long offset) {
        return (int) (offset / blockSize / blocksPerPage);
    }

    /** Where page {@code page} lies in the manifest file, and its length: {@code [offset, offset + length)}. */
    public long pageOffset(int page) {
        return signedLength + (long) page * blocksPerPage * DIGEST_LENGTH;
    }

    /** The length in bytes of page {@code page}. */
    public int pageLength(int page) {
        long blocks = (imageSize + blockSize - 1) / blockSize;
        long first = (long) page * blocksPerPage;
        return (int) (Math.min(blocksPerPage, blocks - first) * DIGEST_LENGTH);
    }

    /** The manifest file's whole length. */
    public long fileLength() {
        return pageCount == 0 ? signedLength : pageOffset(pageCount - 1) + pageLength(pageCount - 1);
    }

    /**
     * Page {@code page} of block digests, fetched by the caller from the manifest file at
     * {@link #pageOffset}, checked against its digest in the signed head.
     *
     * @throws ManifestException when the bytes are not that page
     */
    public DigestPage page(int page, byte[] bytes) throws ManifestException {
        if (page < 0 || page >= pageCount || bytes.length != pageLength(page)) {
            throw new ManifestException(name, "page " + page + " of the manifest has " + bytes.length + " bytes, not "
                    + (page < 0 || page >= pageCount ? "a page" : pageLength(page)));
        }
        byte[] digest = sha256().digest(bytes);
        if (!MessageDigest.isEqual(digest, Arrays.copyOfRange(pageDigests, page * DIGEST_LENGTH, (page + 1) * DIGEST_LENGTH))) {
            throw new ManifestException(name, "page " + page + " of the manifest does not match its signed digest");
        }
        return new DigestPage(this, page, bytes.clone());
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    int blocksPerPage() {
        return blocksPerPage;
    }

    @Override
    public String toString() {
        return "manifest of " + name + " (image '" + imageName + "', file '" + fileName + "', published " + published + ", "
                + imageSize + " bytes, " + revision() + ")";
    }
}
