package dev.branchboot.server.config;

import dev.branchboot.server.ipxe.IpxeScript;
import dev.branchboot.server.ipxe.MacAddress;
import dev.branchboot.server.util.PrintableText;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.Errors;

/**
 * Network boot settings ({@code branchboot.boot.*}): the profiles a PC can boot, each an image, a
 * kernel, an initramfs and kernel arguments, and which machine boots which profile. The scripts made
 * from them are served at {@code /boot}. Everything here ends up in iPXE scripts, which cannot escape
 * anything, so {@link #validate} refuses at start-up any value that would need escaping (see
 * {@link IpxeScript}), naming the property.
 *
 * @param profiles       Boot profiles by name (letters, digits, '-' and '_'): /boot/NAME.ipxe boots
 *                       profile NAME. Each has image, kernel, initrd (names in the images folder,
 *                       served and cached like images) and cmdline (more kernel arguments, such as
 *                       "root=/dev/nbd0p1 ip=dhcp quiet").
 * @param defaultProfile The profile of a machine whose MAC address is not listed in machines;
 *                       unset: such a machine gets 404.
 * @param machines       Profile by MAC address, for /boot/mac/MAC.ipxe (what /boot.ipxe chains
 *                       to). Keys as 52-54-00-12-34-56, [52:54:00:12:34:56] or 525400123456.
 */
public record BootSettings(
        @DefaultValue Map<String, Profile> profiles,
        String defaultProfile,
        @DefaultValue Map<String, String> machines) {
    /** Profile names: one URL path segment and one property key, so no dots (a dot nests keys). */
    private static final Pattern PROFILE_NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    /** A segment of a file name in the images folder that needs no percent-encoding in a URL. */
    private static final Pattern NAME_SEGMENT = Pattern.compile("[A-Za-z0-9._~@+-]+");
    /** Kernel arguments the script writes itself. */
    private static final List<String> GENERATED_ARGUMENTS = List.of("initrd=", "branchboot.server=", "branchboot.image=");

    /** Copies the maps in their configured order, and reads a blank default profile as none. */
    public BootSettings {
        profiles = profiles == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(profiles));
        machines = machines == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(machines));
        defaultProfile = defaultProfile == null || defaultProfile.isBlank() ? null : defaultProfile;
    }

    /**
     * What one profile boots.
     *
     * @param image   The root image the agent streams: a name in the images folder
     *                (branchboot.image=).
     * @param kernel  The kernel: a file in the images folder, such as boot/vmlinuz-6.1.0-28-amd64.
     * @param initrd  The initramfs holding the agent: a file in the images folder, such as
     *                boot/initrd.img-6.1.0-28-amd64.
     * @param cmdline More kernel arguments, separated by spaces; branchboot.server=, branchboot.image=
     *                and initrd= are written by the server.
     */
    public record Profile(String image, String kernel, String initrd, @DefaultValue("") String cmdline) {

        /** The extra kernel arguments as words, in order (none for an empty cmdline). */
        public List<String> cmdlineWords() {
            String trimmed = cmdline == null ? "" : cmdline.strip();
            return trimmed.isEmpty() ? List.of() : List.of(trimmed.split("\\s+"));
        }
    }

    /**
     * The machines by parsed MAC address. Only meaningful after {@link #validate} found no error.
     *
     * @throws IllegalArgumentException for a key that is not a MAC address
     */
    public Map<MacAddress, String> machinesByAddress() {
        Map<MacAddress, String> byAddress = new LinkedHashMap<>();
        machines.forEach((key, profile) -> byAddress.put(MacAddress.parse(key), profile));
        return Collections.unmodifiableMap(byAddress);
    }

    /** Reports every problem of these settings to {@code errors}, each message naming its property. */
    void validate(Errors errors) {
        for (String problem : problems()) {
            errors.reject("branchboot.boot", problem);
        }
    }

    /** Every problem of these settings, each naming its property; empty when they are valid. */
    List<String> problems() {
        List<String> problems = new ArrayList<>();
        profiles.forEach((name, profile) -> {
            String property = "branchboot.boot.profiles." + name;
            if (!PROFILE_NAME.matcher(name).matches()) {
                problems.add(property + ": a profile name is 1 to 64 letters, digits, '-' or '_' (it is part of the "
                        + "script's URL, /boot/NAME.ipxe)");
                return;
            }
            checkName(problems, property + ".image", profile.image());
            checkName(problems, property + ".kernel", profile.kernel());
            checkName(problems, property + ".initrd", profile.initrd());
            for (String word : profile.cmdlineWords()) {
                String problem = IpxeScript.problemWith(word);
                if (problem != null) {
                    problems.add(property + ".cmdline: the argument '" + PrintableText.of(word) + "' cannot go into an iPXE "
                            + "script: " + problem);
                }
                for (String generated : GENERATED_ARGUMENTS) {
                    if (word.startsWith(generated)) {
                        problems.add(property + ".cmdline: " + generated + " is written by the server (this server, then its "
                                + "upstreams; the profile's image; the initramfs); remove it from the cmdline");
                    }
                }
            }
        });
        if (defaultProfile != null && !profiles.containsKey(defaultProfile)) {
            problems.add("branchboot.boot.default-profile: '" + PrintableText.of(defaultProfile) + "' names no profile "
                    + known());
        }
        Map<MacAddress, String> seen = new LinkedHashMap<>();
        machines.forEach((key, profile) -> {
            String property = "branchboot.boot.machines." + PrintableText.of(key);
            MacAddress address;
            try {
                address = MacAddress.parse(key);
            } catch (IllegalArgumentException e) {
                problems.add(property + ": the key is not a MAC address: " + e.getMessage()
                        + " (with colons, put the key in brackets: branchboot.boot.machines[52:54:00:12:34:56])");
                return;
            }
            String earlier = seen.put(address, key);
            if (earlier != null) {
                problems.add(property + ": " + address + " is listed twice (also as '" + PrintableText.of(earlier) + "')");
            }
            if (profile == null || !profiles.containsKey(profile)) {
                problems.add(property + ": '" + PrintableText.of(String.valueOf(profile)) + "' names no profile " + known());
            }
        });
        return problems;
    }

    private String known() {
        return profiles.isEmpty() ? "(no branchboot.boot.profiles are set)" : "(profiles: " + String.join(", ", profiles.keySet()) + ")";
    }

    /** A file in the images folder: segments that need no URL encoding, no hidden or partial files, no '..'. */
    private static void checkName(List<String> problems, String property, String name) {
        if (name == null || name.isBlank()) {
            problems.add(property + " is required: a file name in the images folder");
            return;
        }
        for (String segment : name.split("/", -1)) {
            if (!NAME_SEGMENT.matcher(segment).matches() || segment.startsWith(".") || segment.endsWith(".part")) {
                problems.add(property + ": '" + PrintableText.of(name) + "' is not a name in the images folder (segments of "
                        + "letters, digits and . _ ~ @ + - separated by '/', none empty, hidden (leading '.') or "
                        + "ending in .part)");
                return;
            }
        }
    }
}
