package dev.branchboot.server;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * Entry point of the branchboot image server. Origin mode and branch-cache mode arrive with the
 * server issues; for now the application starts an empty WebFlux service.
 */
@SpringBootApplication
public class BranchbootServerApplication {

    /** Starts the server with Spring Boot's usual command-line property handling. */
    public static void main(String[] args) {
        SpringApplication.run(BranchbootServerApplication.class, args);
    }
}
