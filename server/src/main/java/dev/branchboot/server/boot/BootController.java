package dev.branchboot.server.boot;

import dev.branchboot.server.config.BootSettings;
import dev.branchboot.server.http.Problems;
import dev.branchboot.server.images.ImageNameException;
import dev.branchboot.server.ipxe.MacAddress;
import dev.branchboot.server.metrics.ImageRequestMetrics;
import dev.branchboot.server.util.PrintableText;
import dev.branchboot.server.util.RateLimitedLog;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.CacheControl;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * The network boot API, in origin and in branch mode:
 * <ul>
 * <li>{@code GET /boot.ipxe}: the script DHCP hands to iPXE; it chains to the machine's script by
 * the MAC address of the card iPXE booted from;
 * <li>{@code GET /boot/mac/{mac}.ipxe}: the script of the profile mapped to that MAC address, else of
 * the default profile ({@code 404} when neither exists, {@code 400} for a malformed address);
 * <li>{@code GET /boot/{profile}.ipxe}: a profile's script ({@code 404} for an unknown profile);
 * <li>{@code GET /boot}: the profiles, the default and the machines, as JSON.
 * </ul>
 * Kernels and initramfs files are ordinary files of the images folder, served (and in branch mode
 * cached and revisioned) under {@code /images/} like every image.
 */
@RestController
public class BootController {
    private static final Logger log = LoggerFactory.getLogger(BootController.class);

    /**
     * The entry script. The chained URL is relative, so iPXE resolves it against the URL this script
     * came from: the same server, under whatever name the DHCP server gave for it. {@code netX} is the
     * card iPXE last opened, the one it booted from (not always {@code net0} on a PC with two cards).
     * No word of it comes from the request.
     */
    static final String ENTRY_SCRIPT = "#!ipxe\n"
            + "# branchboot: the boot profile of this machine, chosen by its MAC address\n"
            + "chain --autofree boot/mac/${netX/mac:hexhyp}.ipxe\n";

    private static final MediaType SCRIPT = new MediaType("text", "plain", StandardCharsets.UTF_8);

    private final BootScripts scripts;
    /** Machines without a profile: the same PC retries every few seconds, so at most one line in 10 s. */
    private final RateLimitedLog unknownMachines = RateLimitedLog.every10Seconds(log);

    /** Serves the scripts of {@code scripts}. */
    public BootController(BootScripts scripts) {
        this.scripts = scripts;
    }

    /** The profiles, the default profile and the machine mapping. */
    @GetMapping(path = "/boot", produces = MediaType.APPLICATION_JSON_VALUE)
    public BootListing listing() {
        BootSettings settings = scripts.settings();
        List<BootListing.Profile> profiles = new ArrayList<>();
        settings.profiles().forEach((name, profile) -> profiles.add(new BootListing.Profile(name,
                "/boot/" + name + ".ipxe", profile.image(), profile.kernel(), profile.initrd(),
                String.join(" ", profile.cmdlineWords()))));
        Map<String, String> machines = new LinkedHashMap<>();
        scripts.settings().machinesByAddress().forEach((address, profile) -> machines.put(address.canonical(), profile));
        return new BootListing("/boot.ipxe", profiles, settings.defaultProfile(), machines);
    }

    /** The entry script, which DHCP hands to iPXE. */
    @GetMapping("/boot.ipxe")
    public Mono<Void> entry(ServerWebExchange exchange) {
        return sendScript(exchange, ENTRY_SCRIPT);
    }

    /** The script of a profile. */
    @GetMapping("/boot/{profile}.ipxe")
    public Mono<Void> profile(@PathVariable("profile") String profile, ServerWebExchange exchange) {
        if (!scripts.hasProfile(profile)) {
            return Problems.send(exchange, HttpStatus.NOT_FOUND, "no boot profile named '"
                    + PrintableText.of(profile) + "' " + known());
        }
        return script(exchange, profile, null);
    }

    /** The script of the profile a machine boots. */
    @GetMapping("/boot/mac/{mac}.ipxe")
    public Mono<Void> machine(@PathVariable("mac") String mac, ServerWebExchange exchange) {
        MacAddress address;
        try {
            address = MacAddress.parse(mac);
        } catch (IllegalArgumentException e) {
            return Problems.send(exchange, HttpStatus.BAD_REQUEST, "'" + PrintableText.of(mac)
                    + "' is not a MAC address: " + e.getMessage());
        }
        Optional<String> profile = scripts.profileOf(address);
        if (profile.isEmpty()) {
            unknownMachines.warn("Machine {} asked for its boot script from {}: it is not in branchboot.boot.machines and "
                    + "branchboot.boot.default-profile is not set (404)", address, exchange.getRequest().getRemoteAddress());
            return Problems.send(exchange, HttpStatus.NOT_FOUND, "no boot profile for machine " + address
                    + ": it is not in branchboot.boot.machines and branchboot.boot.default-profile is not set");
        }
        return script(exchange, profile.get(), address);
    }

    private Mono<Void> script(ServerWebExchange exchange, String profile, MacAddress machine) {
        ServerHttpRequest request = exchange.getRequest();
        String serverUrl;
        try {
            serverUrl = BootScripts.serverUrl(request.getURI(), request.getPath().contextPath().value());
        } catch (IllegalArgumentException e) {
            return Problems.send(exchange, HttpStatus.BAD_REQUEST, e.getMessage());
        }
        log.debug("Boot script of profile {} for {}{} (server {})", profile, request.getRemoteAddress(),
                machine == null ? "" : ", machine " + machine, serverUrl);
        return sendScript(exchange, scripts.profileScript(profile, serverUrl));
    }

    private String known() {
        List<String> names = scripts.profileNames();
        return names.isEmpty() ? "(no boot profiles are configured)" : "(profiles: " + String.join(", ", names) + ")";
    }

    private static Mono<Void> sendScript(ServerWebExchange exchange, String script) {
        byte[] body = script.getBytes(StandardCharsets.UTF_8);
        ServerHttpResponse response = exchange.getResponse();
        response.setStatusCode(HttpStatus.OK);
        response.getHeaders().setContentType(SCRIPT);
        response.getHeaders().setContentLength(body.length);
        // A script names the server as the client reached it and follows the configuration: never reuse one.
        response.getHeaders().setCacheControl(CacheControl.noStore());
        if (exchange.getRequest().getMethod() == org.springframework.http.HttpMethod.HEAD) {
            return response.setComplete();
        }
        ImageRequestMetrics.recordBodyBytes(exchange, body.length);
        return response.writeWith(Mono.fromSupplier(() -> response.bufferFactory().wrap(body)));
    }
}
