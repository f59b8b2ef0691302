package dev.branchboot.server.config;

import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.springframework.boot.context.properties.ConfigurationPropertiesBindHandlerAdvisor;
import org.springframework.boot.context.properties.bind.AbstractBindHandler;
import org.springframework.boot.context.properties.bind.BindContext;
import org.springframework.boot.context.properties.bind.BindHandler;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.UnboundConfigurationPropertiesException;
import org.springframework.boot.context.properties.source.ConfigurationProperty;
import org.springframework.boot.context.properties.source.ConfigurationPropertyName;
import org.springframework.boot.context.properties.source.ConfigurationPropertySource;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.boot.origin.SystemEnvironmentOrigin;
import org.springframework.core.env.StandardEnvironment;
import org.springframework.core.env.SystemEnvironmentPropertySource;
import org.springframework.stereotype.Component;

/**
 * Refuses at start-up an environment variable that looks like a branchboot setting but sets none,
 * such as {@code BRANCHBOOT_CACHE_QUOTAA=1GB}: the environment is how docker-compose, the .deb's
 * {@code /etc/default/branchboot-server} and the Helm chart configure the server, and Spring Boot
 * checks for unknown settings only on the command line and in properties files, never in the
 * environment, where other programs' variables share every prefix. Without this check such a typo
 * leaves the default in force (no quota) and the server starts as if nothing were wrong.
 *
 * <p>The rule: a variable (in any case) is taken for a setting when its name starts with
 * {@code BRANCHBOOT_} and either
 * <ul>
 * <li>names one of the server's setting groups, alone or followed by {@code _}:
 * {@code BRANCHBOOT_CACHE_*}, {@code BRANCHBOOT_REPLICATION_*}, {@code BRANCHBOOT_BOOT_*},
 * {@code BRANCHBOOT_CATALOG_*} (the groups of the configuration metadata, so a new group is covered
 * when it is added), or
 * <li>is at most {@value #NEAR_MISS} edits from a setting's variable, in either form Boot binds
 * ({@code BRANCHBOOT_UPSTREAM}, {@code BRANCHBOOT_ADMIN_TOKN}, {@code BRANCHBOOT_CAHCE_DIR}).
 * </ul>
 * Such a variable must set a setting as Spring Boot binds it (either form, {@code _0} list
 * entries, {@code BRANCHBOOT_BOOT_MACHINES_<mac>} map keys), else start-up stops naming it and the
 * variable closest to it ({@link UnknownSettingFailureAnalyzer}). Every other {@code BRANCHBOOT_}
 * variable belongs to another program and is left alone: the test scripts' {@code BRANCHBOOT_DEBUG}
 * and {@code BRANCHBOOT_VM_*}, the quick start's {@code BRANCHBOOT_QUICKSTART_PORT}, the compose
 * file's {@code BRANCHBOOT_IMAGE}, {@code BRANCHBOOT_ORIGIN_PORT} and {@code BRANCHBOOT_BRANCH_PORT},
 * the boot scripts' {@code BRANCHBOOT_SERVERS} and {@code BRANCHBOOT_TRUST}.
 *
 * <p>Works as a {@link BindHandler} around the binding of {@link BranchbootProperties}: it records
 * every name that was bound (from any source) and, when the binding finishes, asks Spring's own
 * mapping of each suspect variable whether it names one of them, so "binds" means exactly what
 * Boot did. It runs before the validation, so a misspelt variable is reported rather than the
 * default it left in place.
 */
@Component
public class EnvironmentVariableCheck implements ConfigurationPropertiesBindHandlerAdvisor {
    /** Edits (a letter added, dropped or changed) within which a variable counts as a setting's near miss. */
    static final int NEAR_MISS = 2;
    private static final String PREFIX = "BRANCHBOOT_";
    private static final ConfigurationPropertyName ROOT = ConfigurationPropertyName.of("branchboot");

    @Override
    public BindHandler apply(BindHandler handler) {
        return new AbstractBindHandler(handler) {
            private final Set<ConfigurationPropertyName> bound = new HashSet<>();

            @Override
            public Object onSuccess(ConfigurationPropertyName name, Bindable<?> target, BindContext context, Object result) {
                bound.add(name);
                return super.onSuccess(name, target, context, result);
            }

            @Override
            public void onFinish(ConfigurationPropertyName name, Bindable<?> target, BindContext context, Object result)
                    throws Exception {
                if (context.getDepth() == 0 && ROOT.equals(name)) {
                    check(context.getSources(), bound);
                }
                super.onFinish(name, target, context, result);
            }
        };
    }

    /**
     * Throws when a variable of the environment among {@code sources} looks like a setting and
     * names none of {@code bound}.
     *
     * @throws UnboundConfigurationPropertiesException listing each such variable, with its origin
     *                                                 (the variable's name) and without its value
     */
    static void check(Iterable<ConfigurationPropertySource> sources, Set<ConfigurationPropertyName> bound) {
        List<String> known = KnownSettings.names();
        Set<ConfigurationProperty> unknown = new LinkedHashSet<>();
        for (String variable : new TreeSet<>(environmentVariables(sources))) {
            if (looksLikeSetting(variable, known) && !bindsToAny(variable, bound)) {
                ConfigurationPropertyName name = ConfigurationPropertyName.adapt(variable.toLowerCase(Locale.ROOT), '_');
                name = name.isEmpty() ? ROOT : name;
                // The value may be a secret (a misspelt BRANCHBOOT_ADMINTOKEN): it never reaches the report.
                unknown.add(new ConfigurationProperty(name, "(not shown)", new SystemEnvironmentOrigin(variable)));
            }
        }
        if (!unknown.isEmpty()) {
            throw new UnboundConfigurationPropertiesException(unknown);
        }
    }

    /**
     * Whether {@code variable} is taken for a branchboot setting (the rule in the class comment),
     * given the {@code known} settings.
     */
    static boolean looksLikeSetting(String variable, List<String> known) {
        String upper = variable.toUpperCase(Locale.ROOT);
        if (!upper.startsWith(PREFIX)) {
            return false;
        }
        for (String group : groupVariables(known)) {
            if (upper.equals(group) || upper.startsWith(group + "_")) {
                return true;
            }
        }
        for (String setting : known) {
            for (String form : KnownSettings.variables(setting)) {
                if (KnownSettings.distance(upper, form) <= NEAR_MISS) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The variables of the server's setting groups, such as {@code BRANCHBOOT_CACHE}, from the {@code known} settings. */
    static List<String> groupVariables(List<String> known) {
        Set<String> groups = new TreeSet<>();
        for (String setting : known) {
            String[] parts = setting.split("\\.");
            if (parts.length >= 3) {
                groups.add(KnownSettings.variables(parts[0] + "." + parts[1]).get(0));
            }
        }
        return List.copyOf(groups);
    }

    /**
     * The variable the operator most likely meant instead of {@code variable} (in Boot's canonical
     * form, dashes dropped), or {@code null} when no setting's variable is near.
     */
    static String closestVariable(String variable, List<String> known) {
        String upper = variable.toUpperCase(Locale.ROOT);
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String setting : known) {
            List<String> forms = KnownSettings.variables(setting);
            for (String form : forms) {
                int distance = KnownSettings.distance(upper, form);
                if (distance < bestDistance) {
                    bestDistance = distance;
                    best = forms.get(0);
                }
            }
        }
        int allowed = Math.max(NEAR_MISS, (upper.length() - PREFIX.length()) / 3);
        return bestDistance <= allowed ? best : null;
    }

    /** Whether Spring Boot binds {@code variable} to one of the {@code bound} names: its own mapping, asked for each. */
    private static boolean bindsToAny(String variable, Set<ConfigurationPropertyName> bound) {
        SystemEnvironmentPropertySource alone = new SystemEnvironmentPropertySource(
                StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME, Map.of(variable, ""));
        for (ConfigurationPropertySource source : ConfigurationPropertySources.from(alone)) {
            for (ConfigurationPropertyName name : bound) {
                if (source.getConfigurationProperty(name) != null) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The names of the environment's variables among the binder's sources. */
    private static Set<String> environmentVariables(Iterable<ConfigurationPropertySource> sources) {
        Set<String> names = new HashSet<>();
        for (ConfigurationPropertySource source : sources) {
            if (source.getUnderlyingSource() instanceof SystemEnvironmentPropertySource environment
                    && isSystemEnvironment(environment.getName())) {
                names.addAll(List.of(environment.getPropertyNames()));
            }
        }
        return names;
    }

    private static boolean isSystemEnvironment(String sourceName) {
        String name = StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME;
        return sourceName.equals(name) || sourceName.endsWith("-" + name);
    }
}
