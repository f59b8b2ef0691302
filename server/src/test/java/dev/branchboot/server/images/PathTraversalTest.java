package dev.branchboot.server.images;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.testing.RunningServer;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

/**
 * Attempts to read {@code outside/secret.txt}, which lies next to the image root, through the
 * image API. Each request goes over a raw socket exactly as written, so no client normalises the
 * path first; the answer must be the expected error and must never contain the secret's bytes.
 */
@ExtendWith(OutputCaptureExtension.class)
class PathTraversalTest extends RunningServer {

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', value = {
            "/images/../outside/secret.txt|400",
            "/images/sub/../../outside/secret.txt|400",
            "/images/%2e%2e/outside/secret.txt|400",
            "/images/%2E%2E/outside/secret.txt|400",
            "/images/.%2e/outside/secret.txt|400",
            "/images/..%2foutside%2fsecret.txt|400",
            "/images/..%2Foutside%2Fsecret.txt|400",
            "/images/%2e%2e%2foutside%2fsecret.txt|400",
            "/images/..%5coutside%5csecret.txt|400",
            "/images/%252e%252e/outside/secret.txt|404",   // double-encoded: a literal '%2e%2e' folder, absent
            "/images/disk.raw%00.txt|400",
            "/images/%c0%ae%c0%ae/outside/secret.txt|400", // overlong UTF-8 dots are not UTF-8
            "/images//outside/secret.txt|400",
            "/images/./disk.raw|400",
            "/images/evil|404",                            // symlink to a file outside the root
            "/images/absolute-evil|404",                   // absolute symlink outside the root
            "/images/evil-dir/secret.txt|404",             // through a symlinked folder outside the root
            "/images/%2Fetc%2Fpasswd|400",
            "/images/.hidden.raw|404",
    })
    void traversalIsRefused(String path, int expectedStatus) {
        String response = rawExchange("GET " + path + " HTTP/1.1");
        assertTrue(response.startsWith("HTTP/1.1 " + expectedStatus + " "), () -> path + " answered: " + firstLine(response));
        assertFalse(response.contains(SECRET), path);
    }

    @ParameterizedTest
    @CsvSource({"GET /images/..\\outside\\secret.txt HTTP/1.1", "GET /images/disk.raw\u0000 HTTP/1.1",
            "GET /images/../../../../etc/passwd HTTP/1.1", "GET http://127.0.0.1/images/../outside/secret.txt HTTP/1.1"})
    void malformedRequestLinesNeverReachTheFile(String requestLine) {
        String response = rawExchange(requestLine);
        assertTrue(response.startsWith("HTTP/1.1 4"), () -> requestLine + " answered: " + firstLine(response));
        assertFalse(response.contains(SECRET));
        assertFalse(response.contains("root:"));
    }

    @Test
    void aFloodOfRequestsForALinkLeadingOutLogsAtMostALine(CapturedOutput output) {
        int from = output.getAll().length();
        for (int i = 0; i < 50; i++) {
            assertEquals(404, get("/images/evil").statusCode());
        }
        // The line may have gone out in another test of this shared server less than 10 s ago.
        List<String> warnings = output.getAll().substring(from).lines().filter(line -> line.contains(" WARN ")).toList();
        assertTrue(warnings.size() <= 1, warnings.size() + " WARN lines:\n" + String.join("\n", warnings));
    }

    private static String firstLine(String response) {
        int end = response.indexOf('\r');
        return end < 0 ? response : response.substring(0, end);
    }
}
