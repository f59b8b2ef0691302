package dev.branchboot.agent.http;

import java.net.SocketTimeoutException;

/**
 * One HTTP request had no complete answer within its time (the request timeout, or what was left
 * of the read's retry deadline): a transient fault of that server, retried and failed over like a
 * reset. The message names the request and how long it ran.
 */
final class RequestTimeoutException extends SocketTimeoutException {
    private static final long serialVersionUID = 1L;

    RequestTimeoutException(String message) {
        super(message);
    }
}
