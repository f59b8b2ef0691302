package dev.branchboot.server.boot;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.branchboot.server.testing.TestProperties;
import org.junit.jupiter.api.Test;

/**
 * The upstreams a boot script names after the server: http(s) ones only, and none with a user name,
 * password, query or fragment. Such an upstream stops a server's start-up (StartupValidationTest);
 * the scripts leave it out all the same, since a script is public.
 */
class BootScriptsFallbacksTest {

    @Test
    void onlyPlainHttpUpstreamsFollowTheServer() {
        BootScripts scripts = new BootScripts(TestProperties.of("upstreams", "http://origin:8080/images/,file:/mnt/images,"
                + "http://boot:secret@backup/images,https://cdn/images?token=secret,https://mirror/images"));
        assertEquals("http://10.0.0.5:8080/images,http://origin:8080/images,https://mirror/images",
                scripts.serverList("http://10.0.0.5:8080"));
    }
}
