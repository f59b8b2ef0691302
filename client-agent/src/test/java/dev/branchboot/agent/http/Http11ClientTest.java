package dev.branchboot.agent.http;

import static dev.branchboot.agent.http.ScriptedHttpServer.bytes;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The HTTP/1.1 client against a server that sends exactly the bytes a test scripts: interim
 * responses, Content-Lengths that are not digits, control bytes where text belongs.
 */
class Http11ClientTest {
    private static final String RANGE = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-4/10\r\n";

    private static Http11Client client() {
        return new Http11Client(Duration.ofSeconds(5), Duration.ofSeconds(5));
    }

    private static ByteBuffer get(Http11Client client, ScriptedHttpServer server) throws Exception {
        ByteBuffer body = ByteBuffer.allocate(5);
        Http11Client.Response r = client.send("GET", URI.create(server.base() + "/disk.img"), Map.of("Range", "bytes=0-4"), body);
        assertEquals(206, r.status());
        return body.flip();
    }

    @Test
    void interimResponsesBeforeTheFinalOneAreSkippedAndTheConnectionStaysInStep() throws Exception {
        Function<String, byte[]> script = request -> bytes("HTTP/1.1 100 Continue\r\n\r\n"
                + "HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n"
                + RANGE + "Content-Length: 5\r\n\r\n" + (request.startsWith("GET /images/a") ? "first" : "again"));
        try (ScriptedHttpServer server = new ScriptedHttpServer(script); Http11Client client = client()) {
            for (String name : new String[] {"a", "b", "c"}) {
                ByteBuffer body = ByteBuffer.allocate(5);
                Http11Client.Response r = client.send("GET", URI.create(server.base() + "/" + name), Map.of(), body);
                assertEquals(206, r.status(), name);
                assertEquals(name.equals("a") ? "first" : "again", StandardCharsets.US_ASCII.decode(body.flip()).toString());
            }
            assertEquals(1, server.connections.get(), "one kept-alive connection for all three");
        }
    }

    @Test
    void switchingProtocolsUnaskedAndEndlessInterimResponsesAreFaults() throws Exception {
        try (ScriptedHttpServer upgrade = new ScriptedHttpServer(r -> bytes("HTTP/1.1 101 Switching Protocols\r\n\r\n"));
             ScriptedHttpServer endless = new ScriptedHttpServer(r -> bytes("HTTP/1.1 100 Continue\r\n\r\n".repeat(50)));
             Http11Client client = client()) {
            assertThrows(IOException.class, () -> get(client, upgrade));
            assertThrows(IOException.class, () -> get(client, endless));
        }
    }

    @Test
    void aContentLengthThatIsNotOneNumberOfDigitsIsAFault() throws Exception {
        String[] bad = {"Content-Length: +5\r\n", "Content-Length: -1\r\n", "Content-Length: 0x5\r\n", "Content-Length: 5 5\r\n",
            "Content-Length: \r\n", "Content-Length: 5\r\nContent-Length: 6\r\n", "Content-Length: 5, 6\r\n",
            "Content-Length: 5\u0000\r\n", "Content-Length: 99999999999999999999999\r\n", "Content-Length: \u00a05\r\n"};
        for (String header : bad) {
            try (ScriptedHttpServer server = new ScriptedHttpServer(r -> bytes(RANGE + header + "\r\nhello"));
                 Http11Client client = client()) {
                IOException e = assertThrows(IOException.class, () -> get(client, server), header);
                assertTrue(e.getMessage().contains("Content-Length"), e.toString());
                assertPrintable(e.getMessage());
            }
        }
        // The same value twice, and white space around it, are one length.
        for (String header : new String[] {"Content-Length: 5\r\nContent-Length: 5\r\n", "Content-Length: \t5 \r\n",
            "Content-Length: 5, 5\r\n"}) {
            try (ScriptedHttpServer server = new ScriptedHttpServer(r -> bytes(RANGE + header + "\r\nhello"));
                 Http11Client client = client()) {
                assertEquals("hello", StandardCharsets.US_ASCII.decode(get(client, server)).toString(), header);
            }
        }
    }

    @Test
    void whatAServerSendsWhereTextBelongsIsEscapedInMessages() throws Exception {
        String garbage = "\u0000\u00ff\u001b[31m\r\u0007";
        String[] answers = {
            "HTTP/1.1 2" + garbage + "\r\n\r\n",                                 // status line
            RANGE + "X-Bad" + garbage + "\r\n\r\n",                               // header line without a colon
            RANGE + " folded" + garbage + "\r\nContent-Length: 5\r\n\r\nhello",  // obsolete line folding
            RANGE + "Transfer-Encoding: chunked" + garbage + "\r\n\r\n",
            RANGE + "ETag: \"r1" + garbage + "\"\r\nContent-Length: 5\r\n\r\nhello",
            RANGE + "ETag: \"a\"\r\nETag: \"b" + garbage + "\"\r\nContent-Length: 5\r\n\r\nhello",
        };
        for (String answer : answers) {
            try (ScriptedHttpServer server = new ScriptedHttpServer(r -> bytes(answer)); Http11Client client = client()) {
                IOException e = assertThrows(IOException.class, () -> get(client, server), answer);
                assertPrintable(e.getMessage());
                assertTrue(e.getMessage().contains("\\x00") || e.getMessage().contains("\\x1b"), e.getMessage());
            }
        }
    }

    /** Only printable ASCII: nothing that ends a log line, drives a terminal or is not text. */
    static void assertPrintable(String text) {
        assertFalse(text.chars().anyMatch(c -> c < 0x20 || c > 0x7e), "not escaped: " + text);
    }
}
