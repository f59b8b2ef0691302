package dev.branchboot.server.boot;

import java.util.List;
import java.util.Map;

/**
 * {@code GET /boot}: what a PC can boot here.
 *
 * @param entryScript    the path of the script DHCP hands to iPXE
 * @param profiles       the profiles, in configuration order
 * @param defaultProfile the profile of machines not in {@code machines}, or {@code null} (they get 404)
 * @param machines       profile by MAC address ({@code 52:54:00:12:34:56})
 */
public record BootListing(String entryScript, List<Profile> profiles, String defaultProfile, Map<String, String> machines) {

    /**
     * One profile.
     *
     * @param name    its name
     * @param script  the path of its script
     * @param image   the root image the agent streams
     * @param kernel  the kernel, a name in the images folder
     * @param initrd  the initramfs, a name in the images folder
     * @param cmdline the profile's own kernel arguments (the script adds the server, the image and initrd=)
     */
    public record Profile(String name, String script, String image, String kernel, String initrd, String cmdline) {
    }
}
