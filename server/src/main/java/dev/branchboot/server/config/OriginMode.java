package dev.branchboot.server.config;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.springframework.boot.autoconfigure.condition.ConditionalOnExpression;

/**
 * Marks a bean of origin mode (serving {@code branchboot.images-dir}): created only when no
 * {@code branchboot.upstreams} are configured.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Documented
@ConditionalOnExpression("'${branchboot.upstreams:}'.isBlank()")
public @interface OriginMode {
}
