package dev.branchboot.server.branch;

import dev.branchboot.server.config.BranchMode;
import dev.branchboot.server.images.ImagePathHandlerMapping;
import org.springframework.stereotype.Component;

/** Branch mode's route of {@code /images/**} to {@link BranchImageWebHandler}. */
@BranchMode
@Component
public class BranchHandlerMapping extends ImagePathHandlerMapping {

    /** Maps {@code /images/**} to {@code handler}. */
    public BranchHandlerMapping(BranchImageWebHandler handler) {
        super(handler);
    }
}
