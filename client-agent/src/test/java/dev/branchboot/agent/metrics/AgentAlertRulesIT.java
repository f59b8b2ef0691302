package dev.branchboot.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.agent.http.OriginServer;
import dev.branchboot.agent.serve.AgentProcess;
import dev.branchboot.testkit.ConformanceImages;
import dev.branchboot.testkit.Nginx;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agents' alert rules, {@code deploy/prometheus/rules/branchboot-agent.rules.yml}, loaded by a
 * real Prometheus (Debian's) that scrapes a running agent's {@code --metrics} endpoint as the
 * example configuration's {@code branchboot-agent} job: every rule evaluates without error, and
 * every series a rule names is one the agent exports. (The server's rules and the dashboard are
 * checked the same way by the server module's MonitoringTest.)
 */
class AgentAlertRulesIT {
    private static final Pattern AGENT_SERIES = Pattern.compile("branchboot_agent_[a-z0-9_]+");
    private final HttpClient http = HttpClient.newHttpClient();

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
            int port = Nginx.freePort();
            Path config = Files.writeString(dir.resolve("prometheus.yml"), String.join("\n",
                    "global: {scrape_interval: 1s, evaluation_interval: 1s}",
                    "rule_files: ['" + rules + "']",
                    "scrape_configs:",
                    "  - job_name: branchboot-agent",
                    "    static_configs: [{targets: ['127.0.0.1:" + agentMetrics + "']}]",
                    ""));
            Path log = dir.resolve("prometheus.log");
            Process prometheus = new ProcessBuilder("prometheus", "--config.file=" + config, "--storage.tsdb.path=" + dir.resolve("tsdb"),
                    "--web.listen-address=127.0.0.1:" + port).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            try {
                String api = "http://127.0.0.1:" + port + "/api/v1/";
                String rulesAnswer = null;
                Set<String> exported = new TreeSet<>();
                for (int i = 0; i < 240; i++) {
                    assertTrue(prometheus.isAlive(), "prometheus exited: " + Files.readString(log));
                    Thread.sleep(250);
                    rulesAnswer = tryGet(api + "rules");
                    String series = tryGet(api + "series?match[]=" + URLEncoder.encode("{job=\"branchboot-agent\"}", StandardCharsets.UTF_8));
                    if (rulesAnswer == null || series == null || rulesAnswer.contains("\"lastEvaluation\":\"0001-")) {
                        continue;
                    }
                    Matcher exportedName = Pattern.compile("\"__name__\":\"([^\"]+)\"").matcher(series);
                    while (exportedName.find()) {
                        exported.add(exportedName.group(1));
                    }
                    if (exported.contains("branchboot_agent_bytes_fetched_total")) {
                        break;
                    }
                }
                assertTrue(exported.contains("branchboot_agent_bytes_fetched_total"), "the agent was scraped: " + Files.readString(log));
                assertEquals(alerts, count(rulesAnswer, "\"type\":\"alerting\""), "Prometheus loaded every rule: " + rulesAnswer);
                assertEquals(alerts, count(rulesAnswer, "\"health\":\"ok\""), "every rule evaluated without error: " + rulesAnswer);
                for (String name : named) {
                    assertTrue(exported.contains(name), "the rules name " + name + ", which the agent does not export: " + exported);
                }
            } finally {
                prometheus.destroy();
                if (!prometheus.waitFor(30, TimeUnit.SECONDS)) {
                    prometheus.destroyForcibly();
                }
            }
            assertEquals(0, agent.terminate(), agent.log());
        }
    }

    private static int count(String text, String what) {
        return text.split(Pattern.quote(what), -1).length - 1;
    }

    /** The body of a 200 answer, or null while Prometheus is still starting. */
    private String tryGet(String url) throws InterruptedException {
        try {
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
            return response.statusCode() == 200 ? response.body() : null;
        } catch (IOException notYet) {
            return null;
        }
    }
}
