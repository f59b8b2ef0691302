package dev.branchboot.server.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import org.junit.jupiter.api.Test;

/** A URL is shown without a user name, password, query or fragment, and unchanged when it has none. */
class DisplayUrlTest {

    @Test
    void aPlainUrlIsShownAsWritten() {
        for (String url : new String[] {"http://origin:8080/images", "https://[::1]/images/", "file:/mnt/nfs/images",
                "file:///mnt/nfs/images", "http://origin/a%20b"}) {
            assertFalse(DisplayUrl.carriesSecrets(URI.create(url)), url);
            assertEquals(url, DisplayUrl.of(URI.create(url)));
        }
    }

    @Test
    void secretsAreLeftOut() {
        String[][] cases = {
                {"http://alice:s3cret@origin:8080/images", "http://origin:8080/images"},
                {"http://alice@origin/images", "http://origin/images"},
                {"https://origin/images?token=s3cret", "https://origin/images"},
                {"https://origin/images?", "https://origin/images"},
                {"http://origin/images#s3cret", "http://origin/images"},
                // Java cannot split this authority into user and host: the host it shows must still lose the password.
                {"http://alice:p@ss@origin:8080/images", "http://origin:8080/images"},
                {"http:alice:s3cret@origin/images", "http:(hidden)"},
                {"http://[::1]:8080/images?token=s3cret", "http://[::1]:8080/images"}};
        for (String[] c : cases) {
            URI url = URI.create(c[0]);
            assertTrue(DisplayUrl.carriesSecrets(url), c[0]);
            assertEquals(c[1], DisplayUrl.of(url), c[0]);
        }
    }
}
