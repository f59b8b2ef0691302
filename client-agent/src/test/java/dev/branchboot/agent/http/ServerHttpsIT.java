package dev.branchboot.agent.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.serve.AgentProcess;
import dev.branchboot.agent.serve.Tools;
import dev.branchboot.agent.testing.Waits;
import dev.branchboot.testkit.ByteComparison;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.ConformanceImages.TestImage;
import dev.branchboot.testkit.Nginx;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged server over https, as README's "TLS" sets it up: a Spring Boot SSL bundle of PEM
 * files (made by openssl for this run) on an origin, and on a branch whose upstream is that https
 * origin (the branch's JVM trusting the certificate through a truststore). curl (with the
 * certificate as its CA) reads the same bytes from both, and refuses them without it; the agent
 * streams an image through the https branch into nbdcopy byte for byte.
 */
class ServerHttpsIT {
    private static final String STORE_PASSWORD = "branchboot";

    @TempDir
    Path dir;

    @Test
    void curlAndTheAgentReadExactBytesThroughAnHttpsBranchOfAnHttpsOrigin() throws Exception {
        TestImage image = ConformanceImages.named("zstd-64k");
        String name = ConformanceImages.directory().relativize(image.image()).toString();
        Path key = dir.resolve("tls.key");
        Path certificate = dir.resolve("tls.crt");
        Tools.run(dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key.toString(), "-out", certificate.toString(), "-days", "2", "-subj", "/CN=branchboot-test",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost");
        Path truststore = dir.resolve("truststore.p12");
        Tools.run(dir, Path.of(System.getProperty("java.home"), "bin", "keytool").toString(), "-importcert", "-noprompt",
                "-alias", "branchboot-test", "-file", certificate.toString(), "-keystore", truststore.toString(),
                "-storetype", "PKCS12", "-storepass", STORE_PASSWORD);
        List<String> trusting = List.of("-Djavax.net.ssl.trustStore=" + truststore, "-Djavax.net.ssl.trustStorePassword=" + STORE_PASSWORD);
        List<String> tls = List.of("--spring.ssl.bundle.pem.branchboot.keystore.certificate=" + certificate,
                "--spring.ssl.bundle.pem.branchboot.keystore.private-key=" + key, "--server.ssl.bundle=branchboot");

        int originPort = Nginx.freePort();
        int branchPort = Nginx.freePort();
        List<String> originArgs = new ArrayList<>(List.of("--branchboot.images-dir=" + ConformanceImages.directory()));
        originArgs.addAll(tls);
        List<String> branchArgs = new ArrayList<>(List.of("--branchboot.upstreams=https://127.0.0.1:" + originPort + "/images",
                "--branchboot.cache.dir=" + dir.resolve("cache")));
        branchArgs.addAll(tls);
        Process origin = server("origin", List.of(), originPort, originArgs);
        Process branch = null;
        try {
            awaitReady("origin", origin, originPort, certificate);
            branch = server("branch", trusting, branchPort, branchArgs);
            awaitReady("branch", branch, branchPort, certificate);

            for (int port : new int[] {originPort, branchPort}) {
                Path copy = dir.resolve("curl-" + port + ".qcow2");
                Tools.run(dir, "curl", "-fsS", "--cacert", certificate.toString(), "-o", copy.toString(),
                        "https://127.0.0.1:" + port + "/images/" + name);
                assertEquals(-1, ByteComparison.firstDifference(image.image(), copy), "curl's bytes from port " + port);
            }
            Process untrusted = new ProcessBuilder("curl", "-fsS", "-o", "/dev/null", "https://127.0.0.1:" + branchPort + "/images/" + name)
                    .redirectErrorStream(true).start();
            String refusal = new String(untrusted.getInputStream().readAllBytes());
            assertTrue(untrusted.waitFor(60, TimeUnit.SECONDS));
            assertEquals(60, untrusted.exitValue(), "curl refuses a certificate it does not trust: " + refusal);

            List<String> agentJvm = new ArrayList<>(AgentProcess.QUICK_JVM);
            agentJvm.addAll(trusting);
            try (AgentProcess agent = AgentProcess.start(dir, agentJvm, "--server", "https://127.0.0.1:" + branchPort + "/images",
                    "--image", name, "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "none")) {
                Path copy = dir.resolve("agent.raw");
                Tools.run(dir, "nbdcopy", agent.uri(""), copy.toString());
                assertEquals(-1, ByteComparison.firstDifference(image.reference(), copy), "the agent's disk through https");
                assertEquals(0, agent.terminate(), agent.log());
            }
            String metrics = Tools.run(dir, "curl", "-fsS", "--cacert", certificate.toString(),
                    "https://127.0.0.1:" + branchPort + "/actuator/prometheus");
            assertTrue(metrics.lines().anyMatch(line -> line.startsWith("branchboot_upstream_bytes_total{")
                    && line.contains("upstream=\"https://127.0.0.1:" + originPort + "/images\"")), "the branch filled over https: " + metrics);
        } finally {
            stop(origin);
            if (branch != null) {
                stop(branch);
            }
        }
    }

    private Process server(String name, List<String> jvm, int port, List<String> args) throws IOException {
        List<String> command = new ArrayList<>(List.of("java"));
        command.addAll(jvm);
        command.addAll(List.of("-jar", System.getProperty("branchboot.server.jar"), "--server.address=127.0.0.1", "--server.port=" + port));
        command.addAll(args);
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(dir.resolve(name + ".log").toFile()).start();
    }

    /** Waits for the readiness probe over https, asked by curl trusting the certificate. */
    private void awaitReady(String name, Process server, int port, Path certificate) throws Exception {
        String readiness = "https://127.0.0.1:" + port + "/actuator/health/readiness";
        Waits.untilReady("the " + name + " to answer " + readiness, server, dir.resolve(name + ".log"), Duration.ofMinutes(3),
                Duration.ofMillis(250), () -> {
                    Process probe = new ProcessBuilder("curl", "-fsS", "-o", "/dev/null", "--cacert", certificate.toString(), readiness)
                            .redirectErrorStream(true).start();
                    probe.getInputStream().readAllBytes();
                    return probe.waitFor(30, TimeUnit.SECONDS) && probe.exitValue() == 0;
                });
    }

    private static void stop(Process server) throws InterruptedException {
        server.destroy();
        if (!server.waitFor(30, TimeUnit.SECONDS)) {
            server.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }
}
