package dev.branchboot.server.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.BranchServer;
import dev.branchboot.server.testing.PrometheusProcess;
import dev.branchboot.server.testing.RunningServer;
import java.io.IOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The dashboard and the alert rules under {@code deploy/} against the real thing: Debian's
 * Prometheus, configured from {@code deploy/prometheus/prometheus.yml} (its jobs, paths and rule
 * files; only the targets and intervals changed), scrapes an origin and a branch in front of it
 * while images are read through the branch. Every expression of every dashboard panel, template
 * variable and alert must then evaluate without error, name only series these servers export
 * (or Prometheus's own {@code up}), and every panel must show data: a renamed metric, a typo or a
 * series that exists only in someone's head fails here rather than on an admin's screen.
 */
class MonitoringTest extends RunningServer {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    /** Grafana's variables, as the dashboard's panels would get them for a short time range. */
    private static final Map<String, String> GRAFANA_VARIABLES = Map.of("$__rate_interval", "20s", "$__range", "5m",
            "$__interval", "1s", "$application", ".*", "$instance", ".*");

    @TempDir
    Path dir;

    @Test
    void everyPanelAndAlertEvaluatesOnSeriesTheServersExport() throws Exception {
        try (BranchServer branch = BranchServer.start("http://127.0.0.1:" + port + "/images", dir.resolve("cache"),
                "--spring.application.name=branchboot-branch", "--branchboot.cache.quota=100MB",
                "--branchboot.replication.images=win11@1.qcow2")) {
            // Traffic: a cold read (misses, upstream bytes), a warm one (hits), a missing image (an
            // upstream not_found error) and the catalog; the replication gives a progress series.
            assertArrayEquals(DISK, branch.get("/images/disk.raw").body());
            branch.awaitCached(DISK.length + Files.size(ROOT.resolve("win11@1.qcow2")));
            assertArrayEquals(DISK, branch.get("/images/disk.raw").body());
            assertEquals(404, branch.get("/images/no-such-image.raw").statusCode());
            assertEquals(200, branch.get("/images").statusCode());
            System.gc(); // so that the GC pause series exist even in a JVM that never collected yet

            Path config = testConfig(Map.of("branchboot-origin", "127.0.0.1:" + port, "branchboot-branch", "127.0.0.1:" + branch.port()));
            try (PrometheusProcess prometheus = PrometheusProcess.start(config, dir)) {
                awaitScraped(prometheus);
                Set<String> exported = exportedNames(prometheus);
                checkDashboard(prometheus, exported);
                checkAlertRules(prometheus, exported);
            }
        }
    }

    /**
     * deploy/prometheus/prometheus.yml with the test's targets for its jobs, one-second intervals,
     * its rule files by absolute path and an empty agents list.
     */
    @SuppressWarnings("unchecked")
    private Path testConfig(Map<String, String> targets) throws IOException {
        Path example = DeployFiles.deploy().resolve("prometheus/prometheus.yml");
        Map<String, Object> config = new Yaml().load(Files.readString(example));
        config.put("global", Map.of("scrape_interval", "1s", "evaluation_interval", "1s"));
        List<String> ruleFiles = new ArrayList<>();
        for (String pattern : (List<String>) config.get("rule_files")) {
            ruleFiles.add(example.getParent().resolve(pattern).toString());
        }
        config.put("rule_files", ruleFiles);
        Path agents = Files.writeString(dir.resolve("agents.yml"), "[]\n");
        Set<String> jobs = new TreeSet<>();
        for (Map<String, Object> job : (List<Map<String, Object>>) config.get("scrape_configs")) {
            String name = (String) job.get("job_name");
            jobs.add(name);
            if (job.containsKey("static_configs")) {
                assertTrue(targets.containsKey(name), "the test has a server for job " + name);
                job.put("static_configs", List.of(Map.of("targets", List.of(targets.get(name)))));
            }
            if (job.containsKey("file_sd_configs")) {
                job.put("file_sd_configs", List.of(Map.of("files", List.of(agents.toString()))));
            }
        }
        assertTrue(jobs.containsAll(targets.keySet()), "the example scrapes " + targets.keySet() + ": " + jobs);
        Path config2 = dir.resolve("prometheus.yml");
        Files.writeString(config2, new Yaml().dump(config));
        return config2;
    }

    /** Waits until both servers were scraped with the traffic's series and the rules evaluated at least once. */
    private static void awaitScraped(PrometheusProcess prometheus) {
        Awaitility.await("both servers scraped and every rule evaluated").atMost(Duration.ofSeconds(90))
                .pollInterval(Duration.ofMillis(500)).until(() -> {
                    JsonNode up = prometheus.query("sum(up{job=~\"branchboot-(origin|branch)\"})").path("result");
                    if (up.isEmpty() || up.get(0).path("value").get(1).asDouble() != 2) {
                        return false;
                    }
                    // Two samples of the branch's counters, so that rates over them have a value.
                    JsonNode samples = prometheus.query("count_over_time(branchboot_upstream_bytes_total[1m])").path("result");
                    if (samples.isEmpty() || samples.get(0).path("value").get(1).asDouble() < 3) {
                        return false;
                    }
                    for (JsonNode group : prometheus.api("/api/v1/rules").path("groups")) {
                        for (JsonNode rule : group.path("rules")) {
                            if (rule.path("lastEvaluation").asString().startsWith("0001-")) {
                                return false;
                            }
                        }
                    }
                    return true;
                });
    }

    /** The names of every series the two servers' scrapes produced (jobs branchboot-*). */
    private static Set<String> exportedNames(PrometheusProcess prometheus) {
        Set<String> names = new TreeSet<>();
        JsonNode series = prometheus.api("/api/v1/series?match[]=" + URLEncoder.encode("{job=~\"branchboot-.*\"}", StandardCharsets.UTF_8));
        for (JsonNode labels : series) {
            names.add(labels.path("__name__").asString());
        }
        assertTrue(names.contains("branchboot_requests_total") && names.contains("branchboot_cache_requests_total"),
                "the origin's and the branch's series are there: " + names);
        return names;
    }

    private void checkDashboard(PrometheusProcess prometheus, Set<String> exported) throws IOException {
        Path dashboards = DeployFiles.deploy().resolve("grafana/dashboards");
        List<Path> files;
        try (Stream<Path> list = Files.list(dashboards)) {
            files = list.filter(f -> f.toString().endsWith(".json")).sorted().toList();
        }
        assertFalse(files.isEmpty(), "dashboards in " + dashboards);
        Map<String, String> expressions = new LinkedHashMap<>();
        for (Path file : files) {
            JsonNode dashboard = JSON.readTree(file.toFile());
            for (JsonNode variable : dashboard.path("templating").path("list")) {
                checkVariable(prometheus, file.getFileName() + " variable " + variable.path("name").asString(),
                        variable.path("query").path("query").asString(), exported);
            }
            for (JsonNode panel : panels(dashboard)) {
                assertEquals("branchboot-prometheus", panel.path("datasource").path("uid").asString(),
                        "panel '" + panel.path("title").asString() + "' uses the provisioned datasource by uid");
                for (JsonNode target : panel.path("targets")) {
                    expressions.put(file.getFileName() + " panel '" + panel.path("title").asString() + "' "
                            + target.path("refId").asString(), target.path("expr").asString());
                }
            }
        }
        assertTrue(expressions.size() >= 10, "the dashboard has its panels: " + expressions.keySet());
        Map<String, String> empty = new TreeMap<>();
        for (Map.Entry<String, String> entry : expressions.entrySet()) {
            String expression = entry.getValue();
            for (Map.Entry<String, String> variable : GRAFANA_VARIABLES.entrySet()) {
                expression = expression.replace(variable.getKey(), variable.getValue());
            }
            assertFalse(expression.contains("$"), entry.getKey() + " uses a variable the test does not know: " + expression);
            checkNames(entry.getKey(), expression, exported);
            JsonNode result = prometheus.query(expression).path("result");
            if (result.isEmpty()) {
                empty.put(entry.getKey(), expression);
            }
        }
        assertEquals(Map.of(), empty, "panels that show nothing while both servers serve traffic");
    }

    /** Grafana's label_values(METRIC{...}, LABEL): the series API must know the metric and the label must have values. */
    private static void checkVariable(PrometheusProcess prometheus, String where, String query, Set<String> exported) {
        java.util.regex.Matcher labelValues = java.util.regex.Pattern.compile("label_values\\((.+),\\s*(\\w+)\\)").matcher(query);
        assertTrue(labelValues.matches(), where + ": a label_values query: " + query);
        String selector = labelValues.group(1);
        for (Map.Entry<String, String> variable : GRAFANA_VARIABLES.entrySet()) {
            selector = selector.replace(variable.getKey(), variable.getValue());
        }
        checkNames(where, selector, exported);
        JsonNode values = prometheus.api("/api/v1/label/" + labelValues.group(2) + "/values?match[]="
                + URLEncoder.encode(selector, StandardCharsets.UTF_8));
        assertFalse(values.isEmpty(), where + " has values: " + query);
    }

    private static List<JsonNode> panels(JsonNode dashboard) {
        List<JsonNode> panels = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            if (panel.path("type").asString().equals("row")) {
                panel.path("panels").forEach(panels::add);
            } else {
                panels.add(panel);
            }
        }
        return panels;
    }

    private void checkAlertRules(PrometheusProcess prometheus, Set<String> exported) throws IOException {
        int inFiles = 0;
        try (Stream<Path> rules = Files.list(DeployFiles.deploy().resolve("prometheus/rules"))) {
            for (Path file : rules.filter(f -> f.toString().endsWith(".rules.yml")).toList()) {
                inFiles += Files.readString(file).split("\n\\s*- alert: ", -1).length - 1;
            }
        }
        int loaded = 0;
        for (JsonNode group : prometheus.api("/api/v1/rules").path("groups")) {
            boolean agentRules = group.path("name").asString().equals("branchboot-agent");
            for (JsonNode rule : group.path("rules")) {
                String where = "alert " + rule.path("name").asString();
                assertEquals("ok", rule.path("health").asString(), where + ": " + rule.path("lastError").asString());
                String query = rule.path("query").asString();
                prometheus.query(query);
                if (!agentRules) {
                    checkNames(where, query, exported);
                } else {
                    // Agents are not running here (client-agent's AgentAlertRulesIT checks these names against one).
                    PromQlNames.of(query).forEach(name -> assertTrue(name.startsWith("branchboot_agent_"), where + ": " + name));
                }
                loaded++;
            }
        }
        assertEquals(inFiles, loaded, "Prometheus loaded every alert of deploy/prometheus/rules");
    }

    private static void checkNames(String where, String expression, Set<String> exported) {
        Set<String> names = PromQlNames.of(expression);
        assertFalse(names.isEmpty(), where + " selects no series: " + expression);
        for (String name : names) {
            assertTrue(exported.contains(name), where + " names " + name + ", which neither server exports: " + expression);
        }
    }
}
