package dev.branchboot.server;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.context.ApplicationContext;

@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = "server.address=127.0.0.1")
class BranchbootServerApplicationTest {

    @Autowired
    ApplicationContext context;

    @Test
    void applicationContextStartsOnARandomPort() {
        assertNotNull(context.getEnvironment().getProperty("local.server.port"));
    }
}
