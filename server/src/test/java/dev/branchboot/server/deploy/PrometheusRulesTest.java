package dev.branchboot.server.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * The files of {@code deploy/prometheus} through Debian's {@code promtool}: the example
 * configuration and the rules check, the unit tests in {@code tests/} pass, and every alert has a
 * unit test in which it fires, and a summary and a description for the admin it pages.
 */
class PrometheusRulesTest {
    private static final Path PROMETHEUS = DeployFiles.deploy().resolve("prometheus");

    @Test
    void exampleConfigAndRulesPassPromtoolCheck() throws Exception {
        List<String> rules = files("rules", ".rules.yml");
        assertFalse(rules.isEmpty());
        List<String> check = new ArrayList<>(List.of("promtool", "check", "rules"));
        check.addAll(rules);
        promtool(check);
        promtool(List.of("promtool", "check", "config", "prometheus.yml"));
    }

    @Test
    void promtoolUnitTestsPass() throws Exception {
        List<String> tests = files("tests", ".test.yml");
        assertFalse(tests.isEmpty());
        List<String> command = new ArrayList<>(List.of("promtool", "test", "rules"));
        command.addAll(tests);
        promtool(command);
    }

    @Test
    @SuppressWarnings("unchecked")
    void everyAlertHasAnnotationsAndAUnitTestWhereItFires() throws IOException {
        Set<String> alerts = new TreeSet<>();
        for (String file : files("rules", ".rules.yml")) {
            Map<String, Object> content = new Yaml().load(Files.readString(PROMETHEUS.resolve(file)));
            for (Map<String, Object> group : (List<Map<String, Object>>) content.get("groups")) {
                for (Map<String, Object> rule : (List<Map<String, Object>>) group.get("rules")) {
                    String alert = (String) rule.get("alert");
                    assertTrue(alert != null, file + ": only alerting rules here: " + rule);
                    alerts.add(alert);
                    Map<String, Object> annotations = (Map<String, Object>) rule.get("annotations");
                    assertTrue(annotations != null && annotations.get("summary") != null && annotations.get("description") != null,
                            alert + " has a summary and a description");
                    Map<String, Object> labels = (Map<String, Object>) rule.get("labels");
                    assertTrue(labels != null && Set.of("critical", "warning").contains(labels.get("severity")),
                            alert + " has a severity of critical or warning");
                }
            }
        }
        Set<String> firing = new TreeSet<>();
        for (String file : files("tests", ".test.yml")) {
            Map<String, Object> content = new Yaml().load(Files.readString(PROMETHEUS.resolve(file)));
            for (Map<String, Object> test : (List<Map<String, Object>>) content.get("tests")) {
                for (Map<String, Object> check : (List<Map<String, Object>>) test.getOrDefault("alert_rule_test", List.of())) {
                    List<Object> expected = (List<Object>) check.get("exp_alerts");
                    if (expected != null && !expected.isEmpty()) {
                        firing.add((String) check.get("alertname"));
                    }
                }
            }
        }
        assertEquals(alerts, firing, "every alert is shown firing in a promtool unit test (and only those alerts)");
    }

    private static List<String> files(String folder, String suffix) throws IOException {
        try (Stream<Path> list = Files.list(PROMETHEUS.resolve(folder))) {
            return list.filter(f -> f.getFileName().toString().endsWith(suffix)).map(f -> folder + "/" + f.getFileName()).sorted().toList();
        }
    }

    /** Runs promtool in deploy/prometheus (the rule tests name their rules relative to it); fails with its output. */
    private static void promtool(List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).directory(PROMETHEUS.toFile()).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(2, TimeUnit.MINUTES), String.join(" ", command) + " finished");
        assertEquals(0, process.exitValue(), String.join(" ", command) + ":\n" + output);
    }
}
