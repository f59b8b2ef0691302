package dev.branchboot.server.http;

import dev.branchboot.server.util.PrintableText;
import java.nio.charset.StandardCharsets;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * RFC 9457 problem responses written by hand, for the handlers that write their responses
 * through the exchange: the image API of both modes (the measured hot path, where a 404 or 416
 * must not cost a codec lookup) and the boot scripts. The admin endpoints answer with Spring's
 * {@code ProblemDetail} instead.
 */
public final class Problems {

    private Problems() {
    }

    /** An RFC 9457 problem body, small enough to build by hand on the hot path. */
    public static Mono<Void> send(ServerWebExchange exchange, HttpStatus status, String detail) {
        ServerHttpResponse response = exchange.getResponse();
        response.setStatusCode(status);
        String json = "{\"type\":\"about:blank\",\"title\":\"" + status.getReasonPhrase() + "\",\"status\":"
                + status.value() + ",\"detail\":\"" + jsonEscape(detail) + "\"}";
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        response.getHeaders().setContentType(MediaType.APPLICATION_PROBLEM_JSON);
        response.getHeaders().setContentLength(body.length);
        return response.writeWith(Mono.fromSupplier(() -> response.bufferFactory().wrap(body)));
    }

    /** Whether {@code method} may be used on an image: images are read-only, so GET and HEAD only. */
    public static boolean readsImage(HttpMethod method) {
        return method == HttpMethod.GET || method == HttpMethod.HEAD;
    }

    /** The 405 for a method other than GET and HEAD on an image, with the Allow header it requires. */
    public static Mono<Void> methodNotAllowed(ServerWebExchange exchange) {
        exchange.getResponse().getHeaders().set(HttpHeaders.ALLOW, "GET, HEAD");
        return send(exchange, HttpStatus.METHOD_NOT_ALLOWED, "only GET and HEAD are allowed on images");
    }

    /** The 404 for an image name that names no image (printed safely for the body). */
    public static Mono<Void> noSuchImage(ServerWebExchange exchange, String imageName) {
        return send(exchange, HttpStatus.NOT_FOUND, "no image named '" + PrintableText.of(imageName) + "'");
    }

    private static String jsonEscape(String text) {
        StringBuilder out = new StringBuilder(text.length() + 8);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
