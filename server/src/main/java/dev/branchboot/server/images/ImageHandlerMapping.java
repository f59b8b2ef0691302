package dev.branchboot.server.images;

import dev.branchboot.server.config.OriginMode;
import org.springframework.stereotype.Component;

/** Origin mode's route of {@code /images/**} to {@link ImageWebHandler}. */
@OriginMode
@Component
public class ImageHandlerMapping extends ImagePathHandlerMapping {

    /** Maps {@code /images/**} to {@code handler}. */
    public ImageHandlerMapping(ImageWebHandler handler) {
        super(handler);
    }
}
