package dev.branchboot.agent.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.serve.AgentProcess;
import dev.branchboot.agent.serve.Tools;
import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import dev.branchboot.testkit.Nginx;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent reading its image from a real nginx over https: a certificate for {@code localhost}
 * made by openssl for this run, trusted through a truststore given to the agent's JVM (as an
 * operator would for a university CA). The bytes through TLS, QCOW2 and NBD must equal
 * {@code qemu-img convert -O raw}; an untrusted certificate and a certificate for another host name
 * are refused, and the error says why.
 */
class HttpsIT {
    private static final String STORE_PASSWORD = "branchboot-test";
    static Nginx nginx;
    static Path truststore;
    static TestImage image;
    static Path root;

    @TempDir
    Path dir;

    @BeforeAll
    static void startTlsNginx(@TempDir Path tls) throws Exception {
        root = ConformanceImages.directory();
        image = ConformanceImages.named("zstd-64k");
        Path key = tls.resolve("key.pem");
        Path certificate = tls.resolve("cert.pem");
        Tools.run(tls, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key.toString(), "-out", certificate.toString(), "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost");
        truststore = tls.resolve("trust.p12");
        Tools.run(tls, Path.of(System.getProperty("java.home"), "bin", "keytool").toString(), "-importcert", "-noprompt",
                "-alias", "branchboot-test", "-file", certificate.toString(), "-keystore", truststore.toString(),
                "-storetype", "PKCS12", "-storepass", STORE_PASSWORD);
        nginx = Nginx.startTls(tls.resolve("nginx"), root, certificate, key);
    }

    @AfterAll
    static void stopNginx() throws InterruptedException {
        if (nginx != null) {
            nginx.close();
        }
    }

    private static List<String> jvm(boolean trusting) {
        List<String> options = new ArrayList<>(AgentProcess.QUICK_JVM);
        options.add("-Djava.net.preferIPv4Stack=true"); // as the launcher: localhost is 127.0.0.1, where nginx listens
        if (trusting) {
            options.add("-Djavax.net.ssl.trustStore=" + truststore);
            options.add("-Djavax.net.ssl.trustStorePassword=" + STORE_PASSWORD);
        }
        return options;
    }

    private String[] serve(String imagesUrl) {
        return new String[] {"--server", imagesUrl, "--image", root.relativize(image.image()).toString(),
            "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "none", "--retry-deadline", "3s"};
    }

    @Test
    void aTrustedServerServesExactlyTheReferenceBytes() throws Exception {
        assertTrue(nginx.imagesUrl().startsWith("https://localhost:"), nginx.imagesUrl());
        long before = nginx.gets();
        try (AgentProcess agent = AgentProcess.start(dir, jvm(true), serve(nginx.imagesUrl()))) {
            Path copy = dir.resolve("copy.raw");
            Tools.run(dir, "nbdcopy", agent.uri(""), copy.toString());
            assertEquals(-1, ByteComparison.firstDifference(image.reference(), copy), "nbdcopy differs at this offset");
            assertTrue(nginx.gets() > before, "nginx served no GET");
            assertEquals(0, agent.terminate(), agent.log());
        }
    }

    @Test
    void anUntrustedCertificateIsRefusedAndTheErrorSaysWhy() throws Exception {
        AgentProcess.Result result = AgentProcess.runToExit(dir, jvm(false), serve(nginx.imagesUrl()));
        assertNotEquals(0, result.exitCode(), result.output());
        assertTrue(result.output().contains("cannot open") && result.output().contains(nginx.imagesUrl()), result.output());
        assertTrue(result.output().contains("SSLHandshakeException") && result.output().contains("certification path"),
                result.output());
    }

    @Test
    void aCertificateForAnotherHostNameIsRefused() throws Exception {
        String byAddress = "https://127.0.0.1:" + nginx.port() + "/images";
        AgentProcess.Result result = AgentProcess.runToExit(dir, jvm(true), serve(byAddress));
        assertNotEquals(0, result.exitCode(), result.output());
        assertTrue(result.output().contains("cannot open") && result.output().contains(byAddress), result.output());
        assertTrue(result.output().contains("127.0.0.1"), result.output());
        assertTrue(result.output().contains("SSLHandshakeException") && result.output().contains("subject alternative names"),
                result.output());
    }
}
