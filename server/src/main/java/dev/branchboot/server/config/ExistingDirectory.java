package dev.branchboot.server.config;

import jakarta.validation.Constraint;
import jakarta.validation.Payload;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * The annotated path must name an existing, readable directory. Checked when the properties are
 * bound, so a mistyped or unmounted images directory stops start-up with Spring Boot's property
 * failure report instead of turning every request into a 404.
 */
@Documented
@Constraint(validatedBy = ExistingDirectoryValidator.class)
@Target({ElementType.FIELD, ElementType.PARAMETER})
@Retention(RetentionPolicy.RUNTIME)
public @interface ExistingDirectory {
    /** The message when the check fails; the validator adds the reason. */
    String message() default "must be an existing, readable directory";

    /** Validation groups (unused). */
    Class<?>[] groups() default {};

    /** Payload (unused). */
    Class<? extends Payload>[] payload() default {};
}
