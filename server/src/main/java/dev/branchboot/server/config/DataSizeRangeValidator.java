package dev.branchboot.server.config;

import jakarta.validation.ConstraintValidator;
import jakarta.validation.ConstraintValidatorContext;
import org.springframework.util.unit.DataSize;

/** Checks {@link DataSizeRange}. */
public class DataSizeRangeValidator implements ConstraintValidator<DataSizeRange, DataSize> {
    private long min;
    private long max;

    @Override
    public void initialize(DataSizeRange annotation) {
        this.min = annotation.min();
        this.max = annotation.max();
    }

    @Override
    public boolean isValid(DataSize value, ConstraintValidatorContext context) {
        return value == null || (value.toBytes() >= min && value.toBytes() <= max);
    }
}
