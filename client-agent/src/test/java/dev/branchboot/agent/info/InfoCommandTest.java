package dev.branchboot.agent.info;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.AgentMain;
import dev.branchboot.testkit.ConformanceImages;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/** {@code info} agrees with {@code qemu-img info --output=json} on the facts both report. */
class InfoCommandTest {

    private static String run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(0, AgentMain.run(new PrintStream(out, true), new PrintStream(err, true), args), err.toString());
        return out.toString();
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void jsonAgreesWithQemuImgInfo() throws Exception {
        for (String name : new String[] {"zstd-2m", "zlib-512", "v2-compressed", "chain-top", "extended-l2", "dirty", "odd-size-written",
                "sparse-64g", "chain-raw-base"}) {
            var image = ConformanceImages.named(name);
            String ours = run("info", "--json", image.image().toString());
            String theirs = ConformanceImages.run(image.image().getParent(), "qemu-img", "info", "--output=json", "-U",
                    image.image().toString());
            JsonNode ourInfo = JSON.readTree(ours);
            JsonNode theirInfo = JSON.readTree(theirs);
            for (String key : new String[] {"virtual-size", "cluster-size", "format", "dirty-flag", "backing-filename",
                    "backing-filename-format"}) {
                assertEquals(theirInfo.get(key), ourInfo.get(key), name + ": " + key + "\nours: " + ours + "\ntheirs: " + theirs);
            }
            JsonNode ourSpecific = ourInfo.path("format-specific");
            JsonNode theirSpecific = theirInfo.path("format-specific");
            assertEquals(theirSpecific.get("type"), ourSpecific.get("type"), name + ": format-specific type");
            for (String key : new String[] {"compat", "compression-type", "lazy-refcounts", "refcount-bits", "corrupt", "extended-l2"}) {
                assertEquals(theirSpecific.path("data").get(key), ourSpecific.path("data").get(key),
                        name + ": format-specific " + key + "\nours: " + ours + "\ntheirs: " + theirs);
            }
        }
    }

    @Test
    void textShowsTheChainAndTheAllocation() {
        String text = run("info", ConformanceImages.directory().resolve("chain-top.qcow2").toString());
        assertTrue(text.contains("compression type: zstd"), text);
        assertTrue(text.contains("backing file: chain-mid.qcow2"), text);
        assertTrue(text.contains("Backing image:\n    image: "), text);
        assertTrue(text.contains("\n    backing file: base-zlib.qcow2\n"), text);
        assertTrue(text.matches("(?s).*compressed: 64 KiB in 1 cluster,.*"), text);
    }
}
