package dev.branchboot.server.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HTTPGetAction;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.yaml.snakeyaml.Yaml;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code helm/branchboot} through helm itself (helm-java embeds it; there is no cluster here):
 * {@code helm lint --strict}; {@code helm template} with the default values and each
 * {@code ci/*-values.yaml}, the objects read as Kubernetes' own types (fabric8's model) and checked
 * where a mistake would only show on a cluster: the probes ask the server's actuator groups on
 * the port it listens on, the Service reaches that port, the admin token's Secret and key reach the
 * variable the server reads, the cache volume is mounted at the cache folder the server is given,
 * every {@code BRANCHBOOT_*} variable is the environment name of a real server property, the pods
 * are non-root with a read-only root; the PrometheusRule carries the rules of deploy/; and values
 * the schema must refuse fail {@code helm template} with a message naming them.
 */
class HelmChartTest {
    private static final Path CHART = DeployFiles.repository().resolve("helm/branchboot");
    private static final ObjectMapper KUBERNETES = new ObjectMapper().disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of("StatefulSet", StatefulSet.class,
            "Service", Service.class, "Secret", Secret.class, "Ingress", Ingress.class, "PodDisruptionBudget", PodDisruptionBudget.class);

    @Test
    void lintStrictPasses() {
        LintResult lint = new Helm(CHART).lint().strict().call();
        assertFalse(lint.isFailed(), String.join("\n", lint.getMessages()));
    }

    /** Every value of values.yaml is in the chart README's table (maps the chart passes through whole are one value). */
    @Test
    @SuppressWarnings("unchecked")
    void everyValueIsDocumented() throws IOException {
        Map<String, Object> values = new Yaml().load(Files.readString(CHART.resolve("values.yaml")));
        String readme = Files.readString(CHART.resolve("README.md"));
        List<String> missing = new ArrayList<>();
        List<Map.Entry<String, Object>> pending = new ArrayList<>(values.entrySet());
        while (!pending.isEmpty()) {
            Map.Entry<String, Object> entry = pending.remove(0);
            if (entry.getValue() instanceof Map<?, ?> map && !map.isEmpty() && !readme.contains("`" + entry.getKey() + "`")) {
                ((Map<String, Object>) map).forEach((key, value) -> pending.add(Map.entry(entry.getKey() + "." + key, value)));
            } else if (!readme.contains("`" + entry.getKey() + "`")) {
                missing.add(entry.getKey());
            }
        }
        assertEquals(List.of(), missing, "values without a row in helm/branchboot/README.md");
    }

    static Stream<Arguments> valueFiles() throws IOException {
        List<Arguments> files = new ArrayList<>();
        files.add(Arguments.of("default values", null));
        try (Stream<Path> ci = Files.list(CHART.resolve("ci"))) {
            ci.filter(f -> f.getFileName().toString().endsWith("-values.yaml")).sorted()
                    .forEach(f -> files.add(Arguments.of(f.getFileName().toString(), f)));
        }
        assertTrue(files.size() >= 4, "ci/ has origin, branch-full and existing secret and claim values: " + files);
        return files.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("valueFiles")
    void renderedObjectsFitTheServer(String name, Path values) throws IOException {
        Map<String, Object> given = values == null ? Map.of() : new Yaml().load(Files.readString(values));
        List<HasMetadata> objects = render(values == null ? UnaryOperator.identity() : t -> t.withValuesFile(values));
        StatefulSet statefulSet = single(objects, StatefulSet.class);
        PodSpec pod = statefulSet.getSpec().getTemplate().getSpec();
        Container server = pod.getContainers().get(0);
        Map<String, EnvVar> env = new LinkedHashMap<>();
        server.getEnv().forEach(variable -> env.put(variable.getName(), variable));

        // The port the server listens on is the container's port, which the probes and the Service use.
        int port = Integer.parseInt(env.get("SERVER_PORT").getValue());
        assertEquals(port, server.getPorts().get(0).getContainerPort());
        String portName = server.getPorts().get(0).getName();
        String scheme = Boolean.TRUE.equals(nested(given, "tls", "enabled")) ? "HTTPS" : "HTTP";
        checkProbe(server.getLivenessProbe().getHttpGet(), "/actuator/health/liveness", portName, scheme);
        checkProbe(server.getReadinessProbe().getHttpGet(), "/actuator/health/readiness", portName, scheme);
        checkProbe(server.getStartupProbe().getHttpGet(), "/actuator/health/liveness", portName, scheme);
        for (Service service : all(objects, Service.class)) {
            assertEquals(portName, service.getSpec().getPorts().get(0).getTargetPort().getStrVal(), service.getMetadata().getName());
            assertEquals(statefulSet.getSpec().getSelector().getMatchLabels(), service.getSpec().getSelector());
        }
        assertTrue(all(objects, Service.class).stream().anyMatch(s -> s.getMetadata().getName().equals(statefulSet.getSpec().getServiceName())),
                "the StatefulSet's governing Service exists");
        assertTrue(statefulSet.getSpec().getTemplate().getMetadata().getLabels().entrySet()
                .containsAll(statefulSet.getSpec().getSelector().getMatchLabels().entrySet()));

        // Every BRANCHBOOT_* variable is the environment form of a property the server has.
        Set<String> serverVariables = serverEnvironmentNames();
        for (String variable : env.keySet()) {
            if (variable.startsWith("BRANCHBOOT_")) {
                assertTrue(serverVariables.contains(variable), variable + " names no server property; the server's: " + serverVariables);
            }
        }

        // Non-root, read-only root, no privilege; /tmp writable for Netty.
        assertTrue(pod.getSecurityContext().getRunAsNonRoot());
        assertTrue(server.getSecurityContext().getReadOnlyRootFilesystem());
        assertFalse(server.getSecurityContext().getAllowPrivilegeEscalation());
        assertEquals(List.of("ALL"), server.getSecurityContext().getCapabilities().getDrop());
        assertEquals("/tmp", mount(server, "tmp").getMountPath());

        String mode = (String) given.getOrDefault("mode", "branch");
        if (mode.equals("branch")) {
            // The cache volume is mounted where the server keeps its cache.
            VolumeMount cache = mount(server, "cache");
            assertEquals(env.get("BRANCHBOOT_CACHE_DIR").getValue(), cache.getMountPath());
            String existingClaim = (String) nested(given, "persistence", "existingClaim");
            if (existingClaim != null) {
                assertEquals(existingClaim, volume(pod, "cache").getPersistentVolumeClaim().getClaimName());
                assertTrue(statefulSet.getSpec().getVolumeClaimTemplates().isEmpty());
            } else {
                assertEquals(List.of("cache"), statefulSet.getSpec().getVolumeClaimTemplates().stream().map(c -> c.getMetadata().getName()).toList());
                assertTrue(pod.getVolumes().stream().noneMatch(v -> v.getName().equals("cache")), "the claim template is the cache volume");
            }
            assertFalse(env.get("BRANCHBOOT_UPSTREAMS").getValue().isEmpty());
            assertNull(env.get("BRANCHBOOT_IMAGESDIR"), "a branch has no images folder");
        } else {
            assertEquals(env.get("BRANCHBOOT_IMAGESDIR").getValue(), mount(server, "images").getMountPath());
            assertTrue(mount(server, "images").getReadOnly());
            assertNull(env.get("BRANCHBOOT_UPSTREAMS"), "an origin has no upstreams");
            assertTrue(statefulSet.getSpec().getVolumeClaimTemplates().isEmpty());
        }

        // The admin token: the Secret the chart made (or the existing one) and its key reach BRANCHBOOT_ADMINTOKEN.
        EnvVar token = env.get("BRANCHBOOT_ADMINTOKEN");
        String tokenValue = (String) nested(given, "adminToken", "value");
        String existingSecret = (String) nested(given, "adminToken", "existingSecret");
        if (tokenValue == null && existingSecret == null) {
            assertNull(token, "no token: no /admin");
            assertTrue(all(objects, Secret.class).isEmpty());
        } else {
            var reference = token.getValueFrom().getSecretKeyRef();
            if (existingSecret != null) {
                assertEquals(existingSecret, reference.getName());
                assertEquals(nested(given, "adminToken", "existingSecretKey"), reference.getKey());
                assertTrue(all(objects, Secret.class).isEmpty(), "no Secret made beside the existing one");
            } else {
                Secret secret = single(objects, Secret.class);
                assertEquals(secret.getMetadata().getName(), reference.getName());
                assertEquals(tokenValue, new String(Base64.getDecoder().decode(secret.getData().get(reference.getKey()))));
            }
        }

        if (scheme.equals("HTTPS")) {
            String certificate = env.get("SPRING_SSL_BUNDLE_PEM_BRANCHBOOT_KEYSTORE_CERTIFICATE").getValue();
            assertEquals("branchboot", env.get("SERVER_SSL_BUNDLE").getValue());
            VolumeMount tls = mount(server, "tls");
            assertTrue(certificate.startsWith(tls.getMountPath() + "/"), certificate + " is in the mounted Secret");
            assertEquals(nested(given, "tls", "secretName"), volume(pod, "tls").getSecret().getSecretName());
        }

        PodDisruptionBudget budget = single(objects, PodDisruptionBudget.class);
        assertEquals(statefulSet.getSpec().getSelector().getMatchLabels(), budget.getSpec().getSelector().getMatchLabels());

        if (Boolean.TRUE.equals(nested(given, "prometheusRule", "enabled"))) {
            checkPrometheusRule(objects);
        }
        if (Boolean.TRUE.equals(nested(given, "ingress", "enabled"))) {
            Ingress ingress = single(objects, Ingress.class);
            String backend = ingress.getSpec().getRules().get(0).getHttp().getPaths().get(0).getBackend().getService().getName();
            assertTrue(all(objects, Service.class).stream().anyMatch(s -> s.getMetadata().getName().equals(backend)), backend);
        }
    }

    /** The PrometheusRule's groups are deploy/prometheus/rules' groups, rule for rule. */
    @SuppressWarnings("unchecked")
    private static void checkPrometheusRule(List<HasMetadata> objects) throws IOException {
        GenericKubernetesResource rule = objects.stream().filter(o -> o.getKind().equals("PrometheusRule"))
                .map(GenericKubernetesResource.class::cast).findFirst().orElseThrow();
        List<Object> groups = (List<Object>) ((Map<String, Object>) rule.getAdditionalProperties().get("spec")).get("groups");
        List<Object> expected = new ArrayList<>();
        for (String file : List.of("branchboot.rules.yml", "branchboot-agent.rules.yml")) {
            Map<String, Object> rules = new Yaml().load(Files.readString(DeployFiles.deploy().resolve("prometheus/rules/" + file)));
            expected.addAll((List<Object>) rules.get("groups"));
            assertEquals(Files.readString(DeployFiles.deploy().resolve("prometheus/rules/" + file)),
                    Files.readString(CHART.resolve("files/" + file)), "the chart's copy of " + file + " is deploy/'s");
        }
        assertEquals(expected, groups);
    }

    @TempDir
    Path dir;

    @Test
    void schemaRefusesBadValuesNamingThem() throws IOException {
        assertRefused("mode", t -> t.set("mode", "proxy"));
        assertRefused("quota", t -> t.set("cache.quota", "lots"));
        assertRefused("upstreams", t -> t.set("branch.upstreams[0]", "ftp://origin/images"));
        Path noUpstreams = Files.writeString(dir.resolve("no-upstreams.yaml"), "branch:\n  upstreams: []\n");
        assertRefused("upstreams", t -> t.withValuesFile(noUpstreams));
        assertRefused("value", t -> t.set("adminToken.value", "short"));
        assertRefused("fetchAttempts", t -> t.set("cache.fetchAttempts", "0"));
        assertRefused("replicaCount", t -> t.set("replicaCount", "0"));
        assertRefused("scrubInterval", t -> t.set("cache.scrubInterval", "daily"));
        assertRefused("blcokSize", t -> t.set("cache.blcokSize", "4KB"));
        assertRefused("origin.images", t -> t.set("mode", "origin"));
        assertRefused("tls.secretName", t -> t.set("tls.enabled", "true"));
    }

    private static void assertRefused(String named, UnaryOperator<TemplateCommand> values) {
        Exception refused = assertThrows(Exception.class, () -> values.apply(new Helm(CHART).template()).call(),
                "refused: " + named);
        assertTrue(refused.getMessage().contains(named), "the message names " + named + ": " + refused.getMessage());
    }

    private static List<HasMetadata> render(UnaryOperator<TemplateCommand> values) {
        String manifests = values.apply(new Helm(CHART).template().withName("branchboot").withNamespace("site")).call();
        List<HasMetadata> objects = new ArrayList<>();
        for (Object document : new Yaml().loadAll(manifests)) {
            if (document == null) {
                continue;
            }
            Map<String, Object> map = (Map<String, Object>) document;
            Class<? extends HasMetadata> type = KINDS.getOrDefault(String.valueOf(map.get("kind")), GenericKubernetesResource.class);
            objects.add(KUBERNETES.convertValue(map, type));
        }
        return objects;
    }

    private static <T> List<T> all(List<HasMetadata> objects, Class<T> type) {
        return objects.stream().filter(type::isInstance).map(type::cast).toList();
    }

    private static <T> T single(List<HasMetadata> objects, Class<T> type) {
        List<T> found = all(objects, type);
        assertEquals(1, found.size(), "one " + type.getSimpleName() + ": " + found);
        return found.get(0);
    }

    private static void checkProbe(HTTPGetAction probe, String path, String port, String scheme) {
        assertEquals(path, probe.getPath());
        assertEquals(port, probe.getPort().getStrVal());
        assertEquals(scheme, probe.getScheme());
    }

    private static VolumeMount mount(Container container, String volume) {
        return container.getVolumeMounts().stream().filter(m -> m.getName().equals(volume)).findFirst()
                .orElseThrow(() -> new AssertionError("a mount of volume " + volume + ": " + container.getVolumeMounts()));
    }

    private static Volume volume(PodSpec pod, String name) {
        return pod.getVolumes().stream().filter(v -> v.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("volume " + name + ": " + pod.getVolumes()));
    }

    @SuppressWarnings("unchecked")
    private static Object nested(Map<String, Object> values, String... keys) {
        Object current = values;
        for (String key : keys) {
            if (!(current instanceof Map)) {
                return null;
            }
            current = ((Map<String, Object>) current).get(key);
        }
        return current;
    }

    /**
     * The environment names of the server's properties (dots to "_", dashes dropped, upper case), from
     * the configuration metadata the build generates for BranchbootProperties.
     */
    static Set<String> serverEnvironmentNames() throws IOException {
        Path metadata = Path.of("target/classes/META-INF/spring-configuration-metadata.json");
        JsonNode properties = JsonMapper.builder().build().readTree(metadata.toFile()).path("properties");
        Set<String> names = new TreeSet<>();
        for (JsonNode property : properties) {
            names.add(property.path("name").asString().replace(".", "_").replace("-", "").toUpperCase());
        }
        assertNotNull(names.contains("BRANCHBOOT_CACHE_DIR") ? names : null);
        assertTrue(names.contains("BRANCHBOOT_UPSTREAMS"), "metadata of the server's properties: " + names);
        return new HashSet<>(names);
    }
}
