package dev.branchboot.agent.http;

import java.io.IOException;

/**
 * A server's answer that breaks HTTP/1.1's framing or the few rules the agent relies on (a status
 * line, a header line, a Content-Length that is not 1*DIGIT, two different values of one header):
 * a fault of that server, retried and failed over like a reset, never guessed at. The connection
 * it came on is closed. The message shows the server's text escaped
 * ({@link dev.branchboot.agent.text.PeerText}).
 */
final class MalformedResponseException extends IOException {
    private static final long serialVersionUID = 1L;

    MalformedResponseException(String message) {
        super(message);
    }
}
