package dev.branchboot.server;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.branchboot.server.testing.RunningServer;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.context.ApplicationContext;

/** The application starts on a random port of 127.0.0.1 with an images directory. */
class BranchbootServerApplicationTest extends RunningServer {

    @Autowired
    ApplicationContext context;

    @Test
    void applicationContextStartsOnARandomPort() {
        assertNotNull(context.getEnvironment().getProperty("local.server.port"));
    }
}
