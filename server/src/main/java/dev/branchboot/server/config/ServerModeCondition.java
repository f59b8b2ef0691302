package dev.branchboot.server.config;

import java.net.URI;
import java.util.List;
import java.util.Map;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * Decides the server's mode from {@code branchboot.upstreams} as Spring binds it (the same binding
 * as {@link BranchbootProperties#isBranchMode()}), so every way of writing the list counts: a comma
 * list, {@code upstreams[0]=...} entries, {@code BRANCHBOOT_UPSTREAMS_0_}. Branch mode when the
 * list has an entry, origin mode otherwise; {@link BranchMode} and {@link OriginMode} ask it.
 */
public class ServerModeCondition extends SpringBootCondition {
    @Override
    public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
        boolean branch = isBranchMode(Binder.get(context.getEnvironment()));
        Map<String, Object> wanted = metadata.getAnnotationAttributes(Mode.class.getName());
        boolean wantsBranch = wanted != null && (boolean) wanted.get("branch");
        String mode = branch ? "branch mode (branchboot.upstreams set)" : "origin mode (no branchboot.upstreams)";
        return wantsBranch == branch ? ConditionOutcome.match(mode) : ConditionOutcome.noMatch(mode);
    }

    static boolean isBranchMode(Binder binder) {
        return !binder.bind("branchboot.upstreams", Bindable.listOf(URI.class)).orElse(List.of()).isEmpty();
    }

    /** The mode a bean belongs to; meta-annotated on {@link BranchMode} and {@link OriginMode}. */
    @java.lang.annotation.Target(java.lang.annotation.ElementType.ANNOTATION_TYPE)
    @java.lang.annotation.Retention(java.lang.annotation.RetentionPolicy.RUNTIME)
    @org.springframework.context.annotation.Conditional(ServerModeCondition.class)
    public @interface Mode {
        boolean branch();
    }
}
