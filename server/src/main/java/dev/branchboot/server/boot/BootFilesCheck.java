package dev.branchboot.server.boot;

import dev.branchboot.server.config.BootSettings;
import dev.branchboot.server.config.BranchbootProperties;
import dev.branchboot.server.config.OriginMode;
import dev.branchboot.server.images.ImageStore;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Component;

/**
 * Origin mode: says at start-up which files the boot profiles name that the images folder does not
 * serve, so an operator learns of a typo before a PC fails to boot. A warning, not a failure: the
 * files may be published after the server starts. (A branch cannot know without asking its
 * upstreams, and does not.)
 */
@OriginMode
@Component
public class BootFilesCheck {
    private static final Logger log = LoggerFactory.getLogger(BootFilesCheck.class);

    private final BootSettings settings;
    private final ImageStore store;

    /** Checks the profiles of {@code properties} against {@code store}. */
    public BootFilesCheck(BranchbootProperties properties, ImageStore store) {
        this.settings = properties.boot();
        this.store = store;
    }

    /** Logs one warning per profile file the images folder does not serve. */
    @EventListener(ApplicationReadyEvent.class)
    public void check() {
        settings.profiles().forEach((name, profile) -> {
            for (Map.Entry<String, String> file : Map.of("image", profile.image(), "kernel", profile.kernel(),
                    "initrd", profile.initrd()).entrySet()) {
                try {
                    store.resolve(file.getValue());
                } catch (RuntimeException e) {
                    log.warn("Boot profile {}: its {} is not served ({}); PCs booting it fail until it is",
                            name, file.getKey(), e.getMessage());
                }
            }
        });
    }
}
