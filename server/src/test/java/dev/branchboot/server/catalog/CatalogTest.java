package dev.branchboot.server.catalog;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.RunningServer;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/**
 * {@code GET /images} lists what the image API serves, with the facts qemu-img wrote into the
 * headers of images made by qemu-img, and nothing it does not serve.
 */
class CatalogTest extends RunningServer {

    private Map<String, JsonNode> catalog() {
        HttpResponse<byte[]> response = get("/images");
        assertEquals(200, response.statusCode());
        assertTrue(response.headers().firstValue("Content-Type").orElseThrow().startsWith("application/json"));
        JsonNode root = new ObjectMapper().readTree(response.body());
        Map<String, JsonNode> byName = new HashMap<>();
        for (JsonNode image : root.get("images")) {
            byName.put(image.get("name").asString(), image);
        }
        return byName;
    }

    @Test
    void listsQcow2HeaderFactsRawFilesAndSymlinkTargets() {
        Map<String, JsonNode> images = catalog();

        JsonNode win11 = images.get("win11@1.qcow2");
        assertEquals("qcow2", win11.get("format").asString());
        assertEquals(3L << 30, win11.get("virtualSize").asLong());
        assertEquals(131072, win11.get("clusterSize").asInt());
        assertEquals("zstd", win11.get("compression").asString());
        assertEquals(3, win11.get("qcow2Version").asInt());
        assertTrue(win11.get("target").isNull());
        String etag = get("/images/win11@1.qcow2", "Range", "bytes=0-0").headers().firstValue("ETag").orElseThrow();
        assertEquals(etag, win11.get("etag").asString());

        JsonNode link = images.get("win11.qcow2");
        assertEquals("win11@1.qcow2", link.get("target").asString());
        assertEquals(etag, link.get("etag").asString());
        assertEquals(win11.get("size").asLong(), link.get("size").asLong());

        JsonNode overlay = images.get("overlay.qcow2");
        assertEquals("win11@1.qcow2", overlay.get("backingFile").asString());
        assertEquals("qcow2", overlay.get("backingFormat").asString());
        assertEquals(2, overlay.get("qcow2Version").asInt());
        assertEquals("zlib", overlay.get("compression").asString());

        JsonNode disk = images.get("disk.raw");
        assertEquals("raw", disk.get("format").asString());
        assertEquals(1L << 20, disk.get("size").asLong());
        assertEquals(1L << 20, disk.get("virtualSize").asLong());
        assertTrue(disk.get("clusterSize").isNull());
        assertTrue(disk.get("lastModified").asString().endsWith("Z"));

        assertTrue(images.containsKey("sub/dir/nested.raw"));
        for (String name : images.keySet()) {
            assertFalse(name.startsWith(".") || name.contains("/.") || name.endsWith(".part"), name);
            assertFalse(name.startsWith("evil") || name.startsWith("absolute-evil"), name);
        }
    }
}
