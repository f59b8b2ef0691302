package dev.branchboot.server.config;

import java.util.List;
import java.util.stream.Collectors;
import org.springframework.boot.context.properties.bind.UnboundConfigurationPropertiesException;
import org.springframework.boot.context.properties.source.ConfigurationProperty;
import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.origin.SystemEnvironmentOrigin;
import org.springframework.core.Ordered;

/**
 * Turns an unknown {@code branchboot.*} setting into a start-up report that names it, where it
 * came from, and the known setting closest to it ({@code branchboot.cache-dir}: did you mean
 * {@code branchboot.cache.dir}?), or for an environment variable that looks like a setting and is
 * none ({@link EnvironmentVariableCheck}), the variable and the one meant
 * ({@code BRANCHBOOT_CACHE_QUOTAA}: did you mean {@code BRANCHBOOT_CACHE_QUOTA}?). The known
 * settings are those in the configuration metadata the build generates from
 * {@link BranchbootProperties}, the same list IDEs complete from. Values are never shown: a
 * misspelt admin token is still a secret. Ordered first, so that Spring Boot's own report of
 * unbound properties, which prints their values, never takes its place.
 */
public class UnknownSettingFailureAnalyzer extends AbstractFailureAnalyzer<UnboundConfigurationPropertiesException>
        implements Ordered {
    @Override
    public int getOrder() {
        return Ordered.HIGHEST_PRECEDENCE;
    }

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, UnboundConfigurationPropertiesException cause) {
        List<String> known = KnownSettings.names();
        StringBuilder description = new StringBuilder("Unknown setting");
        description.append(cause.getUnboundProperties().size() > 1 ? "s:" : ":");
        boolean fromEnvironment = false;
        for (ConfigurationProperty property : cause.getUnboundProperties()) {
            if (property.getOrigin() instanceof SystemEnvironmentOrigin variable) {
                fromEnvironment = true;
                description.append("\n    environment variable ").append(variable.getProperty())
                        .append(" looks like a branchboot setting but sets none");
                String meant = EnvironmentVariableCheck.closestVariable(variable.getProperty(), known);
                if (meant != null) {
                    description.append(": did you mean ").append(meant).append("?");
                }
                continue;
            }
            String name = property.getName().toString();
            description.append("\n    ").append(name);
            if (property.getOrigin() != null) {
                description.append(" (from ").append(property.getOrigin()).append(")");
            }
            String closest = KnownSettings.closest(name, known);
            if (closest != null) {
                description.append(": did you mean ").append(closest).append("?");
            }
        }
        String action = "Correct or remove it. Every branchboot.* setting is listed in README.md; the server does not start "
                + "with one it does not know, so a misspelling never leaves a default quietly in force.";
        if (fromEnvironment) {
            action += " An environment variable is taken for a setting when it starts with a group's "
                    + EnvironmentVariableCheck.groupVariables(known).stream().map(group -> group + "_")
                            .collect(Collectors.joining(", ", "(", ")"))
                    + " or is within " + EnvironmentVariableCheck.NEAR_MISS
                    + " letters of a setting's variable; the variable of branchboot.cache.block-size is "
                    + "BRANCHBOOT_CACHE_BLOCKSIZE (dots become _, dashes are dropped).";
        }
        return new FailureAnalysis(description.toString(), action, cause);
    }
}
