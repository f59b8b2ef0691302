package dev.branchboot.integrity;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;

/**
 * Ed25519 keys in the PEM files OpenSSL writes: {@code openssl genpkey -algorithm ed25519 -out
 * key.pem} (a PKCS #8 private key) and {@code openssl pkey -in key.pem -pubout -out pub.pem} (an
 * X.509 public key).
 */
public final class PemKeys {
    private PemKeys() {
    }

    /** The private key in {@code file}, for signing manifests. */
    public static PrivateKey privateKey(Path file) throws IOException {
        byte[] der = der(file, "PRIVATE KEY");
        try {
            return KeyFactory.getInstance("Ed25519").generatePrivate(new PKCS8EncodedKeySpec(der));
        } catch (GeneralSecurityException e) {
            throw new IOException(file + " is not an Ed25519 private key (openssl genpkey -algorithm ed25519): " + e.getMessage(), e);
        }
    }

    /** The public key in {@code file}, for checking manifests. */
    public static PublicKey publicKey(Path file) throws IOException {
        byte[] der = der(file, "PUBLIC KEY");
        try {
            return ed25519PublicKey(der);
        } catch (GeneralSecurityException e) {
            throw new IOException(file + " is not an Ed25519 public key (openssl pkey -pubout): " + e.getMessage(), e);
        }
    }

    /** The Java key of an X.509 SubjectPublicKeyInfo {@code der} holding an Ed25519 key. */
    static PublicKey ed25519PublicKey(byte[] der) throws GeneralSecurityException {
        return KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(der));
    }

    /** The DER bytes of the PEM block of {@code type} ("PUBLIC KEY") in {@code file}. */
    static byte[] der(Path file, String type) throws IOException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (CharacterCodingException e) {
            throw new IOException(file + " is not a PEM file: it holds bytes that are not ASCII text", e);
        }
        String begin = "-----BEGIN " + type + "-----";
        String end = "-----END " + type + "-----";
        int from = text.indexOf(begin);
        int to = text.indexOf(end);
        if (from < 0 || to < from) {
            throw new IOException(file + " holds no PEM block '" + begin + "'");
        }
        try {
            return Base64.getMimeDecoder().decode(text.substring(from + begin.length(), to));
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": the PEM block is not base64: " + e.getMessage(), e);
        }
    }
}
