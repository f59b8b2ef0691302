package dev.branchboot.server.boot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/**
 * The boot API of an origin server ({@link BootFixture}), over HTTP: the scripts word for word, the
 * server named as the client reached it, the files they name served byte for byte, the machine
 * mapping in every key form, the listing, and clear 404/400 answers with nothing of a bad request
 * ever written into a script.
 */
class BootScriptTest extends BootFixture {

    /** The script of profile lab as a client that reached the server as {@code server} gets it. */
    private static String labScript(String server) {
        return "#!ipxe\n"
                + "# branchboot boot profile lab from " + server + "\n"
                + "echo branchboot: profile lab, image lab.qcow2, from " + server + "\n"
                + "kernel " + server + "/images/boot/vmlinuz initrd=initrd.img branchboot.server=" + server + "/images"
                + " branchboot.image=lab.qcow2 " + LAB_CMDLINE + "\n"
                + "initrd --name initrd.img " + server + "/images/boot/initrd.img\n"
                + "boot\n";
    }

    /** The body of a raw exchange (after the blank line). */
    private static String rawBody(String exchange) {
        return exchange.substring(exchange.indexOf("\r\n\r\n") + 4);
    }

    @Test
    void aProfileScriptNamesTheServerByTheAddressTheClientUsed() {
        // A guest behind qemu's user network reaches the server as 10.0.2.100: the script must say so.
        String exchange = rawExchange(port, "GET /boot/lab.ipxe HTTP/1.1\r\nHost: 10.0.2.100:8080");
        assertTrue(exchange.startsWith("HTTP/1.1 200"), exchange);
        assertEquals(labScript("http://10.0.2.100:8080"), rawBody(exchange));
        String ipv6 = rawExchange(port, "GET /boot/lab.ipxe HTTP/1.1\r\nHost: [fd00::5]:8080");
        assertEquals(labScript("http://[fd00::5]:8080"), rawBody(ipv6));
        String dnsName = rawExchange(port, "GET /boot/lab.ipxe HTTP/1.1\r\nHost: branch-7.lab.example.org");
        assertEquals(labScript("http://branch-7.lab.example.org"), rawBody(dnsName));
    }

    @Test
    void theFilesAScriptNamesAreServedByteForByte() {
        HttpResponse<byte[]> response = get("/boot/lab.ipxe");
        assertEquals(200, response.statusCode());
        assertEquals("text/plain;charset=UTF-8", response.headers().firstValue("Content-Type").orElseThrow());
        assertEquals("no-store", response.headers().firstValue("Cache-Control").orElseThrow());
        String script = body(response);
        assertEquals(labScript(origin()), script);
        String kernelUrl = wordsOf(script, "kernel").get(1);
        List<String> initrd = wordsOf(script, "initrd");
        assertArrayEquals(KERNEL, fetch(kernelUrl), "the kernel the script names (a symlinked revision)");
        assertArrayEquals(INITRD, fetch(initrd.get(initrd.size() - 1)), "the initramfs the script names");
        String imageName = wordsOf(script, "kernel").stream().filter(w -> w.startsWith("branchboot.image="))
                .findFirst().orElseThrow().substring("branchboot.image=".length());
        assertArrayEquals(ROOT_IMAGE, fetch(origin() + "/images/" + imageName), "the root image the script names");
        // HEAD answers like GET without the body (iPXE never sends it; curl -I and monitors do)
        HttpResponse<byte[]> head = dev.branchboot.server.testing.TestHttp.send("HEAD",
                java.net.URI.create(origin() + "/boot/lab.ipxe"));
        assertEquals(200, head.statusCode());
        assertEquals(0, head.body().length);
    }

    @Test
    void theEntryScriptChainsToTheMachinesScriptByItsMacAddress() {
        HttpResponse<byte[]> response = get("/boot.ipxe");
        assertEquals(200, response.statusCode());
        assertEquals("#!ipxe\n# branchboot: the boot profile of this machine, chosen by its MAC address\n"
                + "chain --autofree boot/mac/${netX/mac:hexhyp}.ipxe\n", body(response));
    }

    @Test
    void aMachineBootsItsMappedProfileInEveryKeyFormElseTheDefault() {
        // mapped as branchboot.boot.machines[52:54:00:12:34:56]; iPXE asks in hyphens (hexhyp) or colons
        assertEquals(labScript(origin()), body(get("/boot/mac/52-54-00-12-34-56.ipxe")));
        assertEquals(labScript(origin()), body(get("/boot/mac/52:54:00:12:34:56.ipxe")));
        // mapped as branchboot.boot.machines.0200000000fe (a key whose colons Spring dropped), asked in either case
        assertEquals(labScript(origin()), body(get("/boot/mac/02-00-00-00-00-fe.ipxe")));
        assertEquals(labScript(origin()), body(get("/boot/mac/02-00-00-00-00-FE.ipxe")));
        // mapped as branchboot.boot.machines.52-54-00-AB-CD-EF to kiosk
        String kiosk = body(get("/boot/mac/52-54-00-ab-cd-ef.ipxe"));
        assertTrue(kiosk.contains("\necho branchboot: profile kiosk, image kiosk.qcow2,"), kiosk);
        assertEquals(List.of("kernel", origin() + "/images/boot/vmlinuz-1", "initrd=initrd.img",
                "branchboot.server=" + origin() + "/images", "branchboot.image=kiosk.qcow2"), wordsOf(kiosk, "kernel"));
        // not mapped: the default profile
        assertEquals(kiosk, body(get("/boot/mac/52-54-00-00-00-01.ipxe")));
    }

    @Test
    void malformedMacAddressesGet400AndUnknownProfiles404() throws Exception {
        for (String mac : List.of("52-54-00-12-34", "52-54-00-12-34-56-78", "zz-54-00-12-34-56", "%24%7Bnet0%7D", "x%0Ay",
                "52-54-00-12-34-56%0A")) {
            HttpResponse<byte[]> response = get("/boot/mac/" + mac + ".ipxe");
            assertEquals(400, response.statusCode(), mac);
            assertEquals("application/problem+json", response.headers().firstValue("Content-Type").orElseThrow());
            JsonNode problem = new ObjectMapper().readTree(response.body());
            assertTrue(problem.path("detail").asString().contains("is not a MAC address: a MAC address is six hex pairs"),
                    problem.toString());
            assertFalse(body(response).contains("#!ipxe"));
        }
        HttpResponse<byte[]> unknown = get("/boot/nope.ipxe");
        assertEquals(404, unknown.statusCode());
        assertEquals("no boot profile named 'nope' (profiles: lab, kiosk)",
                new ObjectMapper().readTree(unknown.body()).path("detail").asString());
        // what a request puts in a name is printed, never interpreted: the control character is escaped
        HttpResponse<byte[]> control = get("/boot/n%0Ae%24%7Bx%7D.ipxe");
        assertEquals(404, control.statusCode());
        assertEquals("no boot profile named 'n\\x0ae${x}' (profiles: lab, kiosk)",
                new ObjectMapper().readTree(control.body()).path("detail").asString());
    }

    @Test
    void aHostHeaderThatIsNotAHostNameGets400AndNoScript() {
        for (String host : List.of("evil$x", "${net0/mac}", "a;b", "h\"q", "x||y", "a#b", "a\\b", "x.example.org:80;boot")) {
            String exchange = rawExchange(port, "GET /boot/lab.ipxe HTTP/1.1\r\nHost: " + host);
            assertTrue(exchange.startsWith("HTTP/1.1 400"), () -> host + ":\n" + exchange);
            assertFalse(exchange.contains("#!ipxe"), exchange);
            assertFalse(exchange.contains("kernel "), exchange);
        }
        // the entry script has no word from the request, so any host gets it
        assertTrue(rawExchange(port, "GET /boot.ipxe HTTP/1.1\r\nHost: 10.0.2.100").startsWith("HTTP/1.1 200"));
    }

    @Test
    void theListingShowsProfilesDefaultAndMachines() throws Exception {
        HttpResponse<byte[]> response = get("/boot");
        assertEquals(200, response.statusCode());
        JsonNode listing = new ObjectMapper().readTree(response.body());
        assertEquals("/boot.ipxe", listing.path("entryScript").asString());
        assertEquals("kiosk", listing.path("defaultProfile").asString());
        JsonNode lab = listing.path("profiles").get(0);
        assertEquals("lab", lab.path("name").asString());
        assertEquals("/boot/lab.ipxe", lab.path("script").asString());
        assertEquals("lab.qcow2", lab.path("image").asString());
        assertEquals("boot/vmlinuz", lab.path("kernel").asString());
        assertEquals("boot/initrd.img", lab.path("initrd").asString());
        assertEquals(LAB_CMDLINE, lab.path("cmdline").asString());
        assertEquals("kiosk", listing.path("profiles").get(1).path("name").asString());
        assertEquals(2, listing.path("profiles").size());
        JsonNode machines = listing.path("machines");
        assertEquals("lab", machines.path("52:54:00:12:34:56").asString());
        assertEquals("kiosk", machines.path("52:54:00:ab:cd:ef").asString());
        assertEquals("lab", machines.path("02:00:00:00:00:fe").asString());
        assertEquals(3, machines.size());
    }

    @Test
    void scriptsAreCountedUnderTheirOwnRoute() {
        String before = body(get("/actuator/prometheus"));
        double sent = bootBytes(before);
        int length = get("/boot/lab.ipxe").body().length;
        String after = body(get("/actuator/prometheus"));
        assertEquals(sent + length, bootBytes(after), 0.5, after);
    }

    private static double bootBytes(String exposition) {
        return exposition.lines().filter(l -> l.startsWith("branchboot_response_bytes_total{") && l.contains("route=\"boot\""))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }

    /** The words of the script's line starting with {@code command}. */
    static List<String> wordsOf(String script, String command) {
        for (String line : script.split("\n")) {
            List<String> words = new ArrayList<>(List.of(line.split(" ")));
            if (words.get(0).equals(command)) {
                return words;
            }
        }
        throw new AssertionError("no " + command + " line in\n" + script);
    }

    static byte[] fetch(String url) {
        HttpResponse<byte[]> response = dev.branchboot.server.testing.TestHttp.send("GET", java.net.URI.create(url));
        assertEquals(200, response.statusCode(), url);
        return response.body();
    }
}
