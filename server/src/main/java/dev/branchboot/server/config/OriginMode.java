package dev.branchboot.server.config;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a bean of origin mode (serving {@code branchboot.images-dir}): created only when no
 * {@code branchboot.upstreams} are configured.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Documented
@ServerModeCondition.Mode(branch = false)
public @interface OriginMode {
}
