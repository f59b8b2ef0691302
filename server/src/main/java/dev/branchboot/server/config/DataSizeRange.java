package dev.branchboot.server.config;

import jakarta.validation.Constraint;
import jakarta.validation.Payload;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/** The annotated {@link org.springframework.util.unit.DataSize} must lie between {@code min} and {@code max} bytes. */
@Documented
@Constraint(validatedBy = DataSizeRangeValidator.class)
@Target({ElementType.FIELD, ElementType.PARAMETER})
@Retention(RetentionPolicy.RUNTIME)
public @interface DataSizeRange {
    /** Smallest allowed size in bytes. */
    long min();

    /** Largest allowed size in bytes. */
    long max();

    /** The message when the check fails. */
    String message() default "must be between {min} and {max} bytes";

    /** Validation groups (unused). */
    Class<?>[] groups() default {};

    /** Payload (unused). */
    Class<? extends Payload>[] payload() default {};
}
