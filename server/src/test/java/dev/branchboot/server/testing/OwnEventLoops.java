package dev.branchboot.server.testing;

import java.time.Duration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.client.ReactorResourceFactory;

/**
 * Event loops of a server's own, for every server a test starts and stops itself (add this class
 * to the {@code SpringApplicationBuilder}'s sources). By default every Spring context in a JVM
 * shares Reactor Netty's global loops, and stopping any such context disposes them
 * ({@code ReactorResourceFactory.stop()} calls {@code HttpResources.disposeLoopsAndConnectionsLater})
 * under the others: the cached test contexts' servers among them. One such close waited forever
 * in {@code ReactorResourceFactory.stop()} and hung a CI run.
 */
@Configuration(proxyBeanMethods = false)
public class OwnEventLoops {
    /** Loops of this context's own, shut down with it and without the 2 s quiet period. */
    @Bean
    ReactorResourceFactory reactorResourceFactory() {
        ReactorResourceFactory factory = new ReactorResourceFactory();
        factory.setUseGlobalResources(false);
        factory.setShutdownQuietPeriod(Duration.ZERO);
        return factory;
    }
}
