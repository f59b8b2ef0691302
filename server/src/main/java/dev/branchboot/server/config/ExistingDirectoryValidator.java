package dev.branchboot.server.config;

import jakarta.validation.ConstraintValidator;
import jakarta.validation.ConstraintValidatorContext;
import java.nio.file.Files;
import java.nio.file.Path;

/** Checks {@link ExistingDirectory}, saying which of the conditions failed and for which absolute path. */
public class ExistingDirectoryValidator implements ConstraintValidator<ExistingDirectory, Path> {

    @Override
    public boolean isValid(Path value, ConstraintValidatorContext context) {
        if (value == null) {
            return true;
        }
        Path absolute = value.toAbsolutePath();
        String problem;
        if (!Files.exists(absolute)) {
            problem = "'" + absolute + "' does not exist (create it, mount it, or point the property elsewhere)";
        } else if (!Files.isDirectory(absolute)) {
            problem = "'" + absolute + "' is not a directory";
        } else if (!Files.isReadable(absolute) || !Files.isExecutable(absolute)) {
            problem = "'" + absolute + "' is not readable by this process";
        } else {
            return true;
        }
        context.disableDefaultConstraintViolation();
        context.buildConstraintViolationWithTemplate("must be an existing, readable directory: "
                + problem.replace("{", "\\{").replace("}", "\\}").replace("$", "\\$")).addConstraintViolation();
        return false;
    }
}
