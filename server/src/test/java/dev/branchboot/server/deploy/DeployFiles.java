package dev.branchboot.server.deploy;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the tests find the repository's deployment files ({@code deploy/}, {@code docker-compose.yml}, ...). */
final class DeployFiles {
    private DeployFiles() {
    }

    /** The repository's top folder: the parent of the server module, which Maven runs the tests in. */
    static Path repository() {
        Path top = Path.of("").toAbsolutePath().getParent();
        if (!Files.isDirectory(top.resolve("deploy"))) {
            throw new IllegalStateException("no deploy/ folder in " + top + ": the tests run in the server module's folder");
        }
        return top;
    }

    /** {@code deploy/} of the repository. */
    static Path deploy() {
        return repository().resolve("deploy");
    }
}
