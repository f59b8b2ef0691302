package dev.branchboot.server.images;

import org.springframework.core.Ordered;
import org.springframework.web.reactive.handler.AbstractHandlerMapping;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebHandler;
import reactor.core.publisher.Mono;

/**
 * Routes every request under {@code /images/} to one image handler, ahead of the annotated
 * controllers. A prefix test instead of pattern matching and argument resolution: the image path is
 * the hot path (tens of thousands of small range requests a second), and the handler parses the
 * name itself anyway. {@code /images} itself (the catalog) is left to its controller. Origin and
 * branch mode each register one, with their own handler.
 */
public abstract class ImagePathHandlerMapping extends AbstractHandlerMapping {
    /** The URL prefix of image names. */
    public static final String PREFIX = "/images/";

    private final WebHandler handler;

    /** Maps {@code /images/**} to {@code handler}. */
    protected ImagePathHandlerMapping(WebHandler handler) {
        this.handler = handler;
        setOrder(Ordered.HIGHEST_PRECEDENCE + 10);
    }

    @Override
    protected Mono<?> getHandlerInternal(ServerWebExchange exchange) {
        String path = exchange.getRequest().getPath().pathWithinApplication().value();
        return path.startsWith(PREFIX) ? Mono.just(handler) : Mono.empty();
    }
}
