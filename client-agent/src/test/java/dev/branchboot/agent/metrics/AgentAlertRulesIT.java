package dev.branchboot.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.http.OriginServer;
import dev.branchboot.agent.serve.AgentProcess;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.Nginx;
import java.io.IOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * The agents' alert rules, {@code deploy/prometheus/rules/branchboot-agent.rules.yml}, loaded by a
 * real Prometheus (Debian's) that scrapes a running agent's {@code --metrics} endpoint as the
 * example configuration's {@code branchboot-agent} job: every rule evaluates without error, and
 * every series a rule names is one the agent exports. (The server's rules and the dashboard are
 * checked the same way by the server module's MonitoringTest.)
 */
class AgentAlertRulesIT {
    private static final Pattern AGENT_SERIES = Pattern.compile("branchboot_agent_[a-z0-9_]+");

    @TempDir
    Path dir;

    @Test
    void agentRulesEvaluateOnSeriesTheAgentExports() throws Exception {
        Path rules = Path.of("").toAbsolutePath().getParent().resolve("deploy/prometheus/rules/branchboot-agent.rules.yml");
        String ruleText = Files.readString(rules);
        Set<String> named = new TreeSet<>();
        Matcher names = AGENT_SERIES.matcher(ruleText.replaceAll("(?m)^\\s*#.*$", ""));
        while (names.find()) {
            named.add(names.group());
        }
        assertFalse(named.isEmpty(), "the rules name agent series");
        int alerts = ruleText.split("\n\\s*- alert: ", -1).length - 1;

        String image = ConformanceImages.directory().relativize(ConformanceImages.named("zlib-64k").image()).toString();
        int agentMetrics = Nginx.freePort();
        try (OriginServer server = OriginServer.start(ConformanceImages.directory(), dir);
             AgentProcess agent = AgentProcess.start(dir, AgentProcess.QUICK_JVM, "--server", server.images(), "--image", image,
                     "--listen", "unix:" + dir.resolve("nbd.sock"), "--cow", "none", "--metrics", "tcp:127.0.0.1:" + agentMetrics)) {
            Path config = Files.writeString(dir.resolve("prometheus.yml"), String.join("\n",
                    "global: {scrape_interval: 1s, evaluation_interval: 1s}",
                    "rule_files: ['" + rules + "']",
                    "scrape_configs:",
                    "  - job_name: branchboot-agent",
                    "    static_configs: [{targets: ['127.0.0.1:" + agentMetrics + "']}]",
                    ""));
            try (PrometheusProcess prometheus = PrometheusProcess.start(config, dir)) {
                prometheus.awaitValue("branchboot_agent_bytes_fetched_total{job=\"branchboot-agent\"}");
                prometheus.await("Prometheus to have evaluated every rule once", () -> {
                    List<JsonNode> loaded = alertingRules(prometheus);
                    return !loaded.isEmpty() && loaded.stream().noneMatch(rule -> rule.path("lastEvaluation").asString().startsWith("0001-"));
                });
                List<JsonNode> alerting = alertingRules(prometheus);
                assertEquals(alerts, alerting.size(), "Prometheus loaded every rule: " + alerting);
                for (JsonNode rule : alerting) {
                    assertEquals("ok", rule.path("health").asString(), "the rule evaluates without error: " + rule);
                }
                Set<String> exported = new TreeSet<>();
                String agentJob = URLEncoder.encode("{job=\"branchboot-agent\"}", StandardCharsets.UTF_8);
                prometheus.api("/api/v1/series?match[]=" + agentJob).forEach(series -> exported.add(series.path("__name__").asString()));
                for (String name : named) {
                    assertTrue(exported.contains(name), "the rules name " + name + ", which the agent does not export: " + exported);
                }
            }
            assertEquals(0, agent.terminate(), agent.log());
        }
    }

    /** The alerting rules Prometheus has loaded, each with its health and last evaluation. */
    private static List<JsonNode> alertingRules(PrometheusProcess prometheus) throws IOException, InterruptedException {
        List<JsonNode> alerting = new ArrayList<>();
        for (JsonNode group : prometheus.api("/api/v1/rules").path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                if ("alerting".equals(rule.path("type").asString())) {
                    alerting.add(rule);
                }
            }
        }
        return alerting;
    }
}
