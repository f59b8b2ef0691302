package dev.branchboot.server.testing;

import dev.branchboot.server.BranchbootServerApplication;
import dev.branchboot.server.cache.CacheDirectory;
import org.awaitility.Awaitility;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.time.Duration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * A branchboot server in branch mode, started in this JVM on a free port of 127.0.0.1 with the
 * given upstreams and cache directory, that a test can stop and start again over the same cache.
 */
public final class BranchServer implements AutoCloseable {
    private final ConfigurableApplicationContext context;
    private final int port;

    private BranchServer(ConfigurableApplicationContext context) {
        this.context = context;
        this.port = Integer.parseInt(context.getEnvironment().getProperty("local.server.port"));
    }

    /** Starts a branch filling {@code cacheDir} from {@code upstreams}; {@code extra} are more {@code --key=value} arguments. */
    public static BranchServer start(String upstreams, Path cacheDir, String... extra) {
        Map<String, String> args = new LinkedHashMap<>();
        for (String arg : List.of("--server.port=0", "--server.address=127.0.0.1",
                "--branchboot.upstreams=" + upstreams, "--branchboot.cache.dir=" + cacheDir,
                "--branchboot.cache.fetch-size=256KB", "--branchboot.cache.retry-backoff=20ms",
                "--branchboot.cache.upstream-timeout=10s", "--spring.main.banner-mode=off",
                // Tests stop and start many servers: skip Reactor Netty's 2 s quiet period on each stop, and
                // the wait for requests of a peer server in the same JVM whose shared event loops already stopped.
                "--spring.reactor.netty.shutdown-quiet-period=0s", "--server.shutdown=immediate")) {
            args.put(arg.substring(0, arg.indexOf('=')), arg);
        }
        // A repeated property would bind as a list: the test's own value replaces the default.
        for (String arg : extra) {
            args.put(arg.substring(0, arg.indexOf('=')), arg);
        }
        return new BranchServer(new SpringApplicationBuilder(BranchbootServerApplication.class, OwnEventLoops.class)
                .run(args.values().toArray(String[]::new)));
    }

    /** A bean of the running server, such as its cache directory. */
    public <T> T bean(Class<T> type) {
        return context.getBean(type);
    }

    /**
     * Waits until the cache holds exactly {@code bytes}: a response leaves before the bytes it
     * fetched are stored, so a test that counts cached bytes right after a read waits for the store.
     */
    public void awaitCached(long bytes) {
        CacheDirectory directory = bean(CacheDirectory.class);
        Awaitility.await("the branch to hold " + bytes + " bytes").atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(20)).until(() -> directory.cachedBytes() == bytes);
    }

    /** The server's port. */
    public int port() {
        return port;
    }

    /** Sends a request with header name/value pairs and returns the whole response. */
    public HttpResponse<byte[]> send(String method, String path, String... headers) {
        return TestHttp.send(method, URI.create("http://127.0.0.1:" + port + path), headers);
    }

    /** GET with header name/value pairs. */
    public HttpResponse<byte[]> get(String path, String... headers) {
        return send("GET", path, headers);
    }

    /**
     * Stops the server in order (a clean shutdown of the cache), waiting at most a minute: a test
     * must not hang on a stop that never ends (it is reported, and the test goes on).
     */
    @Override
    public void close() {
        Thread closer = new Thread(context::close, "branch-server-stop-" + port);
        closer.setDaemon(true);
        closer.start();
        try {
            closer.join(Duration.ofMinutes(1).toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (closer.isAlive()) {
            System.err.println("BranchServer on port " + port + ": still stopping after a minute; going on");
        }
    }
}
