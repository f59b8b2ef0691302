package dev.branchboot.server.boot;

import dev.branchboot.server.config.BootSettings;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.ipxe.IpxeScript;
import dev.branchboot.server.ipxe.MacAddress;
import dev.branchboot.server.util.DisplayUrl;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

/**
 * Makes the iPXE scripts of the configured boot profiles. A profile's script loads the kernel and
 * the initramfs from the server that answered, at the URL the PC reached it by (so a branch hands
 * out itself), and gives the kernel {@code branchboot.server=} with that server first and the
 * server's own http(s) upstreams after it as fallbacks, {@code branchboot.image=}, {@code initrd=}
 * (so that the kernel's EFI stub finds the initramfs under UEFI) and the profile's arguments.
 *
 * <p>Only validated words reach a script: the settings were checked at start-up
 * ({@link BootSettings}), the server's URL is checked per request ({@link #serverUrl}), and
 * {@link IpxeScript} checks every word again as it writes it.
 */
@Component
public class BootScripts {
    private static final Logger log = LoggerFactory.getLogger(BootScripts.class);
    /** The name the initramfs gets inside iPXE, which {@code initrd=} on the command line refers to. */
    static final String INITRD_NAME = "initrd.img";
    /** A DNS name or IPv4 address: labels of letters, digits and inner hyphens, separated by dots. */
    private static final Pattern HOST_NAME =
            Pattern.compile("[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*");
    /** An IPv6 literal as a URI writes it. */
    private static final Pattern IPV6_LITERAL = Pattern.compile("\\[[0-9A-Fa-f:.]{2,45}]");

    private final BootSettings settings;
    private final Map<MacAddress, String> machines;
    private final List<String> fallbacks;

    /** Scripts of {@code properties.getBoot()}, with the server's http(s) upstreams as fallbacks. */
    public BootScripts(BranchbootProperties properties) {
        this.settings = properties.boot();
        this.machines = settings.machinesByAddress();
        this.fallbacks = fallbacks(properties.upstreams());
    }

    /**
     * The upstreams a PC can fail over to after this server: http and https image folders that can
     * be written into a kernel argument. A {@code file:} upstream is a path on this server, and an
     * upstream with a user name, password, query or a character a script cannot carry is left out
     * (said once at start-up): the script is public, and a comma would split the list.
     */
    private static List<String> fallbacks(List<URI> upstreams) {
        List<String> usable = new ArrayList<>();
        for (URI upstream : upstreams == null ? List.<URI>of() : upstreams) {
            String scheme = upstream.getScheme();
            if (!"http".equals(scheme) && !"https".equals(scheme)) {
                continue;
            }
            String url = upstream.toString();
            while (url.endsWith("/")) {
                url = url.substring(0, url.length() - 1);
            }
            String problem = upstream.getRawUserInfo() != null ? "it carries a user name or password"
                    : upstream.getRawQuery() != null || upstream.getRawFragment() != null ? "it has a query or fragment"
                    : url.indexOf(',') >= 0 ? "it contains a comma, which separates branchboot.server= entries"
                    : IpxeScript.problemWith(url);
            if (problem != null) {
                log.warn("Boot scripts do not list the upstream {} as a fallback for PCs: {}", DisplayUrl.of(upstream), problem);
                continue;
            }
            usable.add(url);
        }
        return List.copyOf(usable);
    }

    /**
     * The base URL of this server as the client reached it ({@code http://10.1.0.5:8080}), from the
     * request's scheme, host and port, plus the application's context path.
     *
     * @throws IllegalArgumentException when the host is not a DNS name or an IP address, or the result
     *                                  could not be written into a script (the message does not repeat
     *                                  the request's text)
     */
    public static String serverUrl(URI requestUri, String contextPath) {
        String scheme = requestUri.getScheme();
        String host = requestUri.getHost();
        if (!"http".equals(scheme) && !"https".equals(scheme)) {
            throw new IllegalArgumentException("the request's scheme is not http or https");
        }
        if (host == null || !(HOST_NAME.matcher(host).matches() || IPV6_LITERAL.matcher(host).matches())) {
            throw new IllegalArgumentException("the request's Host header is not a DNS name or an IP address, so it "
                    + "cannot name this server in a boot script");
        }
        String url = scheme + "://" + host + (requestUri.getPort() >= 0 ? ":" + requestUri.getPort() : "")
                + (contextPath == null ? "" : contextPath);
        if (IpxeScript.problemWith(url) != null) {
            throw new IllegalArgumentException("this server's URL cannot go into a boot script: "
                    + IpxeScript.problemWith(url));
        }
        return url;
    }

    /** The configured settings (for the listing). */
    public BootSettings settings() {
        return settings;
    }

    /** Whether a profile of that name is configured. */
    public boolean hasProfile(String name) {
        return settings.profiles().containsKey(name);
    }

    /** The configured profile names, in configuration order. */
    public List<String> profileNames() {
        return List.copyOf(settings.profiles().keySet());
    }

    /** The profile of machine {@code address}: its mapping, else the default profile, else none. */
    public Optional<String> profileOf(MacAddress address) {
        String mapped = machines.get(address);
        return Optional.ofNullable(mapped != null ? mapped : settings.defaultProfile());
    }

    /**
     * The server list of a script made by {@code serverUrl}: its images folder, then the
     * fallbacks, comma-separated as {@code branchboot.server=} takes them.
     */
    public String serverList(String serverUrl) {
        List<String> servers = new ArrayList<>();
        servers.add(serverUrl + "/images");
        for (String fallback : fallbacks) {
            if (!servers.contains(fallback)) {
                servers.add(fallback);
            }
        }
        return String.join(",", servers);
    }

    /**
     * The script of profile {@code name}, served by {@code serverUrl} (from {@link #serverUrl}).
     *
     * @throws IllegalArgumentException if no such profile is configured
     */
    public String profileScript(String name, String serverUrl) {
        BootSettings.Profile profile = settings.profiles().get(name);
        if (profile == null) {
            throw new IllegalArgumentException("no boot profile named " + name);
        }
        String images = serverUrl + "/images/";
        List<String> kernel = new ArrayList<>(List.of("kernel", images + profile.kernel(),
                "initrd=" + INITRD_NAME,
                "branchboot.server=" + serverList(serverUrl),
                "branchboot.image=" + profile.image()));
        kernel.addAll(profile.cmdlineWords());
        return new IpxeScript()
                .comment(List.of("branchboot", "boot", "profile", name, "from", serverUrl))
                .line("echo", "branchboot:", "profile", name + ",", "image", profile.image() + ",", "from", serverUrl)
                .line(kernel)
                .line("initrd", "--name", INITRD_NAME, images + profile.initrd())
                .line("boot")
                .text();
    }
}
