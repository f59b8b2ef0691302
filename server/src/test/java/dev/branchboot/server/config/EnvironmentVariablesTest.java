package dev.branchboot.server.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.BranchbootServerApplication;
import dev.branchboot.server.testing.OwnEventLoops;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.context.properties.source.ConfigurationPropertyName;
import org.springframework.boot.context.properties.source.ConfigurationPropertySource;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.core.env.StandardEnvironment;
import org.springframework.core.env.SystemEnvironmentPropertySource;
import org.springframework.util.unit.DataSize;

/**
 * Settings given as environment variables, the way docker-compose, the .deb's
 * {@code /etc/default/branchboot-server} and the Helm chart give them: a variable that looks like
 * a setting and sets none stops start-up naming it and the variable meant, without its value;
 * every other program's {@code BRANCHBOOT_} variable in this repository, and every form Spring
 * Boot binds of a real setting, start the server. The server is started in this JVM with an
 * environment whose variables are exactly the test's (Boot reads the same property source from
 * the process's environment).
 */
@ExtendWith(OutputCaptureExtension.class)
class EnvironmentVariablesTest {
    /** Where the other programs of this repository read their variables (not docs, which show typos on purpose). */
    private static final List<String> PROGRAMS = List.of("scripts", "test", "bench", "boot", "deploy", "helm", ".ci",
            "docker-compose.yml", "server/Dockerfile", "server/src/deb");
    private static final Pattern VARIABLE = Pattern.compile("\\bBRANCHBOOT_[A-Za-z0-9_]*[A-Za-z0-9]");

    @TempDir
    Path temp;

    private ConfigurableApplicationContext start(Map<String, Object> variables) {
        StandardEnvironment environment = new StandardEnvironment();
        environment.getPropertySources().replace(StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME,
                new SystemEnvironmentPropertySource(StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME, variables));
        return new SpringApplicationBuilder(BranchbootServerApplication.class, OwnEventLoops.class).environment(environment)
                .run("--branchboot.images-dir=" + temp, "--server.port=0", "--server.address=127.0.0.1",
                        "--spring.main.banner-mode=off");
    }

    private String refused(CapturedOutput output, Map<String, Object> variables) {
        assertThrows(Exception.class, () -> start(variables).close());
        String report = output.getAll();
        assertTrue(report.contains("APPLICATION FAILED TO START"), report);
        return report;
    }

    @Test
    void aMisspeltVariableOfASettingGroupStopsStartUpNamingTheVariableMeant(CapturedOutput output) {
        String report = refused(output, Map.of("BRANCHBOOT_CACHE_QUOTAA", "1GB"));
        assertTrue(report.contains("environment variable BRANCHBOOT_CACHE_QUOTAA looks like a branchboot setting but sets none: "
                + "did you mean BRANCHBOOT_CACHE_QUOTA?"), report);
    }

    @Test
    void aNearMissOfATopLevelSettingStopsStartUpWithoutShowingItsValue(CapturedOutput output) {
        String secret = "s3cret-admin-token-0123456789";
        String report = refused(output, Map.of("BRANCHBOOT_ADMIN_TOKN", secret, "BRANCHBOOT_UPSTREAM", "http://127.0.0.1:9/images"));
        assertTrue(report.contains("environment variable BRANCHBOOT_ADMIN_TOKN looks like a branchboot setting but sets none: "
                + "did you mean BRANCHBOOT_ADMINTOKEN?"), report);
        assertTrue(report.contains("BRANCHBOOT_UPSTREAM looks like a branchboot setting but sets none: did you mean "
                + "BRANCHBOOT_UPSTREAMS?"), report);
        assertFalse(report.contains(secret), "the report shows the misspelt token's value:\n" + report);
    }

    @Test
    void otherProgramsVariablesAndEveryFormOfARealSettingStart() {
        Map<String, Object> variables = new LinkedHashMap<>();
        for (String other : List.of("BRANCHBOOT_DEBUG", "BRANCHBOOT_QUICKSTART_PORT", "BRANCHBOOT_VM_TRACE", "BRANCHBOOT_VM_WORK",
                "BRANCHBOOT_IMAGE", "BRANCHBOOT_ORIGIN_PORT", "BRANCHBOOT_BRANCH_PORT", "BRANCHBOOT_BRANCH_MEMORY",
                "BRANCHBOOT_SERVERS", "BRANCHBOOT_TRUST", "BRANCHBOOT_JAVA_OPTS", "BRANCHBOOT_LOG", "BRANCHBOOT_FUTURE_TOOL")) {
            variables.put(other, "1");
        }
        variables.put("BRANCHBOOT_CACHE_BLOCK_SIZE", "8KB"); // Boot's legacy form, dashes as underscores
        variables.put("BRANCHBOOT_CACHE_FETCHSIZE", "512KB"); // the canonical form
        variables.put("branchboot_max_ranges", "50"); // lower case
        variables.put("BRANCHBOOT_REPLICATION_ON_FIRST_READ", "true");
        variables.put("BRANCHBOOT_CATALOG_MAXDEPTH", "3");
        variables.put("BRANCHBOOT_BOOT_PROFILES_LAB_IMAGE", "lab.qcow2");
        variables.put("BRANCHBOOT_BOOT_PROFILES_LAB_KERNEL", "boot/vmlinuz");
        variables.put("BRANCHBOOT_BOOT_PROFILES_LAB_INITRD", "boot/initrd.img");
        variables.put("BRANCHBOOT_BOOT_MACHINES_525400123456", "lab");
        try (ConfigurableApplicationContext context = start(variables)) {
            BranchbootProperties properties = context.getBean(BranchbootProperties.class);
            assertEquals(DataSize.ofKilobytes(8), properties.cache().blockSize());
            assertEquals(DataSize.ofKilobytes(512), properties.cache().fetchSize());
            assertEquals(50, properties.maxRanges());
            assertTrue(properties.replication().onFirstRead());
            assertEquals(3, properties.catalog().maxDepth());
            assertEquals("lab", properties.boot().machines().get("525400123456"));
        }
    }

    @Test
    void theRuleTakesTheServersGroupsAndNearMissesForSettingsAndNothingElse() {
        List<String> known = KnownSettings.names();
        for (String setting : List.of("BRANCHBOOT_CACHE_QUOTAA", "BRANCHBOOT_CACHE_ANYTHING", "BRANCHBOOT_REPLICATION_RATES",
                "BRANCHBOOT_BOOT_PROFILE_LAB_IMAGE", "BRANCHBOOT_CATALOG_DEPTH", "BRANCHBOOT_CACHE", "branchboot_cache_dirr",
                "BRANCHBOOT_UPSTREAM", "BRANCHBOOT_IMAGEDIR", "BRANCHBOOT_ADMIN_TOKN", "BRANCHBOOT_TRUSTKY", "BRANCHBOOT_CAHCE_DIR",
                "BRANCHBOOT_MAXRANGE")) {
            assertTrue(EnvironmentVariableCheck.looksLikeSetting(setting, known), setting + " is taken for a setting");
        }
        for (String other : List.of("BRANCHBOOT_DEBUG", "BRANCHBOOT_IMAGE", "BRANCHBOOT_TRUST", "BRANCHBOOT_SERVERS",
                "BRANCHBOOT_CACHEDIR_OF_SOMETHING_ELSE", "BRANCHBOOTX_CACHE_DIR", "SPRING_SSL_BUNDLE_PEM_BRANCHBOOT_KEYSTORE_CERTIFICATE")) {
            assertFalse(EnvironmentVariableCheck.looksLikeSetting(other, known), other + " is left to its program");
        }
    }

    @Test
    void everyBranchbootVariableOfTheRepositorysProgramsIsASettingOrLooksLikeNone() throws IOException {
        List<String> known = KnownSettings.names();
        TreeSet<String> variables = new TreeSet<>();
        Path repository = Path.of("..").toAbsolutePath().normalize();
        for (String place : PROGRAMS) {
            Path path = repository.resolve(place);
            if (!Files.exists(path)) {
                continue;
            }
            try (Stream<Path> files = Files.walk(path)) {
                for (Path file : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                    Matcher variable = VARIABLE.matcher(new String(Files.readAllBytes(file), java.nio.charset.StandardCharsets.ISO_8859_1));
                    while (variable.find()) {
                        variables.add(variable.group());
                    }
                }
            }
        }
        assertTrue(variables.contains("BRANCHBOOT_ORIGIN_PORT") && variables.contains("BRANCHBOOT_CACHE_DIR"),
                "the scan found the compose file's variables: " + variables);
        List<String> wrong = new ArrayList<>();
        for (String variable : variables) {
            if (EnvironmentVariableCheck.looksLikeSetting(variable, known) && !setsAKnownSetting(variable, known)) {
                wrong.add(variable);
            }
        }
        assertEquals(List.of(), wrong, "variables of other programs that a server started beside them would refuse");
    }

    /** Whether Spring Boot binds {@code variable} to a known setting (or the first entry of a list). */
    private static boolean setsAKnownSetting(String variable, List<String> known) {
        for (ConfigurationPropertySource source : ConfigurationPropertySources.from(new SystemEnvironmentPropertySource(
                StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME, Map.of(variable, "")))) {
            for (String setting : known) {
                ConfigurationPropertyName name = ConfigurationPropertyName.of(setting);
                if (source.getConfigurationProperty(name) != null || source.getConfigurationProperty(name.append("[0]")) != null) {
                    return true;
                }
            }
        }
        return false;
    }
}
