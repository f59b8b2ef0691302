package dev.branchboot.server.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.TestHttp;
import dev.branchboot.testkit.Nginx;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code server/Dockerfile} as far as it can be tested without a container engine (there is none
 * on these machines): the image's promises (a Java 17 JRE base, a non-root user, the cache and
 * images folders as volumes, the port exposed is the one the server listens on), its layered-jar
 * extract step run as written on the built jar, and its ENTRYPOINT started in the assembled
 * working folder with the image's ENV: an origin that comes up healthy and serves an image exactly.
 */
class ServerImageIT {
    @TempDir
    Path dir;

    @Test
    void imagePromisesHold() throws Exception {
        ServerImage image = ServerImage.read();
        List<String> from = image.runtime("FROM");
        assertTrue(from.get(0).matches("eclipse-temurin:17-jre(-\\w+)?"), "a Java 17 JRE base: " + from);
        List<String> user = image.runtime("USER");
        assertEquals(1, user.size(), "one USER");
        assertTrue(user.get(0).matches("[1-9][0-9]*(:[1-9][0-9]*)?"), "a numeric non-root user (Kubernetes' runAsNonRoot checks it): " + user);
        Map<String, String> env = image.environment();
        assertTrue(image.volumes().contains(env.get("BRANCHBOOT_CACHE_DIR")), "the cache folder is a volume: " + image.volumes());
        assertTrue(image.volumes().contains("/srv/images"), "the images folder is a volume: " + image.volumes());
        assertEquals(List.of(env.get("SERVER_PORT")), image.runtime("EXPOSE"), "EXPOSE is the server's port");
        assertTrue(image.entrypoint().stream().anyMatch(flag -> flag.startsWith("-XX:MaxRAMPercentage=")),
                "the heap follows the container's memory limit: " + image.entrypoint());
        assertTrue(image.runtime("HEALTHCHECK").get(0).contains("/actuator/health/readiness"), "the healthcheck asks readiness");
    }

    @Test
    void extractedLayersStartAHealthyServer() throws Exception {
        ServerImage image = ServerImage.read();
        Path root = dir.resolve("root");
        Path workdir = image.assemble(root);
        for (String layer : List.of("dependencies", "spring-boot-loader", "snapshot-dependencies", "application")) {
            assertTrue(Files.isDirectory(ServerImage.under(root, "/build/extracted/" + layer)), "the extract made layer " + layer);
        }
        assertTrue(Files.exists(workdir.resolve("org/springframework/boot/loader/launch/JarLauncher.class")), "the launcher is in the working folder");

        Path images = Files.createDirectories(dir.resolve("images"));
        byte[] disk = new byte[3 << 20];
        new Random(14).nextBytes(disk);
        Files.write(images.resolve("disk.raw"), disk);
        int port = Nginx.freePort();
        // The image's ENV with its folders where the volumes would be mounted, and the test's address.
        Map<String, String> env = new LinkedHashMap<>(image.environment());
        env.put("BRANCHBOOT_CACHE_DIR", Files.createDirectories(dir.resolve("cache")).toString());
        env.put("BRANCHBOOT_IMAGESDIR", images.toString());
        env.put("SERVER_PORT", Integer.toString(port));
        env.put("SERVER_ADDRESS", "127.0.0.1");
        Path log = dir.resolve("server.log");
        Process server = image.start(workdir, env, List.of(), log);
        try {
            ServerImage.awaitHealthy(server, "http://127.0.0.1:" + port + "/actuator/health/readiness", log);
            assertArrayEquals(disk, TestHttp.send("GET", URI.create("http://127.0.0.1:" + port + "/images/disk.raw")).body());
        } finally {
            ServerImage.stop(server);
        }
    }
}
