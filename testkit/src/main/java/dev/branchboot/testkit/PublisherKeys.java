package dev.branchboot.testkit;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An image publisher's Ed25519 key pair made by OpenSSL, as an admin makes one
 * ({@code openssl genpkey -algorithm ed25519}, {@code openssl pkey -pubout}), in a test's folder.
 *
 * @param privateKey the PKCS #8 PEM file to sign manifests with
 * @param publicKey  the X.509 PEM file branches and PCs trust
 */
public record PublisherKeys(Path privateKey, Path publicKey) {

    /** Makes {@code NAME.pem} and {@code NAME.pub.pem} in {@code dir}. */
    public static PublisherKeys make(Path dir, String name) throws IOException, InterruptedException {
        Path key = dir.resolve(name + ".pem");
        Path pub = dir.resolve(name + ".pub.pem");
        openssl("genpkey", "-algorithm", "ed25519", "-out", key.toString());
        openssl("pkey", "-in", key.toString(), "-pubout", "-out", pub.toString());
        return new PublisherKeys(key, pub);
    }

    private static void openssl(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException("openssl " + String.join(" ", args) + " failed: " + output);
        }
    }
}
