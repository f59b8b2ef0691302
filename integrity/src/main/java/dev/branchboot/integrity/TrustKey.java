package dev.branchboot.integrity;

import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;

/**
 * The publisher's Ed25519 public key that manifests must be signed with, read from the PEM file
 * {@code openssl pkey -pubout} writes.
 *
 * <p>The file is read and its structure checked at once, so a wrong path or a key of another kind
 * fails before anything is fetched. Making a Java key of it starts Java's security providers, which
 * costs a booting PC's emulated or slow CPU a few hundred milliseconds; that runs on a thread of
 * its own while the first requests to the servers are on the wire, and {@link #publicKey} waits for
 * it where a signature is first checked.
 *
 * <p>A trust key also carries the reader's memory of what it accepted with it
 * ({@link AcceptedRevisions}): in memory unless {@link #rememberingIn} names a file.
 */
public final class TrustKey {
    /** An Ed25519 SubjectPublicKeyInfo (RFC 8410): this prefix, then the 32-byte key. */
    private static final byte[] ED25519_PREFIX = HexFormat.of().parseHex("302a300506032b6570032100");
    private static final int ED25519_KEY_BYTES = 32;

    private final String source;
    private final CompletableFuture<PublicKey> key;
    private final AcceptedRevisions accepted;

    private TrustKey(String source, CompletableFuture<PublicKey> key, AcceptedRevisions accepted) {
        this.source = source;
        this.key = key;
        this.accepted = accepted;
    }

    /**
     * Reads the public key in {@code file} and starts making a Java key of it in the background.
     *
     * @throws IOException naming {@code file} when it cannot be read or holds no Ed25519 public key
     */
    public static TrustKey read(Path file) throws IOException {
        byte[] der = PemKeys.der(file, "PUBLIC KEY");
        if (der.length != ED25519_PREFIX.length + ED25519_KEY_BYTES
                || !Arrays.equals(der, 0, ED25519_PREFIX.length, ED25519_PREFIX, 0, ED25519_PREFIX.length)) {
            throw new IOException(file + " is not an Ed25519 public key (openssl pkey -pubout): its "
                    + der.length + " bytes are not an RFC 8410 Ed25519 key");
        }
        CompletableFuture<PublicKey> key = new CompletableFuture<>();
        Thread maker = new Thread(() -> {
            try {
                key.complete(PemKeys.ed25519PublicKey(der));
            } catch (GeneralSecurityException | RuntimeException e) {
                key.completeExceptionally(e);
            }
        }, "trust-key");
        maker.setDaemon(true);
        maker.start();
        return new TrustKey(file.toString(), key, AcceptedRevisions.inMemory());
    }

    /**
     * This key, remembering the revisions accepted with it in {@code state} (read now) instead of
     * in memory only.
     *
     * @throws IOException naming the file when it exists but cannot be read as such a memory
     */
    public TrustKey rememberingIn(Path state) throws IOException {
        return new TrustKey(source, key, AcceptedRevisions.inFile(state));
    }

    /** What readers with this key accepted so far: checked by every manifest loaded. */
    public AcceptedRevisions accepted() {
        return accepted;
    }

    /**
     * The key, once made.
     *
     * @throws IllegalStateException when this JVM cannot make Ed25519 keys (its jdk.crypto.ec or
     *                               java.base lacks them), naming the key file
     */
    public PublicKey publicKey() {
        try {
            return key.join();
        } catch (java.util.concurrent.CompletionException e) {
            throw new IllegalStateException("cannot use the trust key " + source + ": " + e.getCause(), e.getCause());
        }
    }

    @Override
    public String toString() {
        return source;
    }
}
