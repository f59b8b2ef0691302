package dev.branchboot.server;

import dev.branchboot.server.config.BranchbootProperties;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.scheduling.annotation.EnableScheduling;

/**
 * Entry point of the branchboot image server. In origin mode it serves the directory
 * {@code branchboot.images-dir} over plain HTTP: {@code GET|HEAD /images/{name}} with range
 * requests, {@code GET /images} as a JSON catalog, and actuator health and Prometheus metrics. With
 * {@code branchboot.upstreams} it is a branch cache of them with the same API. Background work
 * (the cache's state writes, quota and scrub, replication schedules) runs on Spring's task
 * scheduler.
 */
@SpringBootApplication
@EnableScheduling
@EnableConfigurationProperties(BranchbootProperties.class)
public class BranchbootServerApplication {

    /** Starts the server with Spring Boot's usual command-line property handling. */
    public static void main(String[] args) {
        SpringApplication.run(BranchbootServerApplication.class, args);
    }
}
