package dev.branchboot.server.images;

import dev.branchboot.server.config.OriginMode;
import org.springframework.core.Ordered;
import org.springframework.stereotype.Component;
import org.springframework.web.reactive.handler.AbstractHandlerMapping;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * Routes every request under {@code /images/} to {@link ImageWebHandler}, ahead of the annotated
 * controllers. A prefix test instead of pattern matching and argument resolution: the image path is
 * the hot path (tens of thousands of small range requests a second), and the handler parses the
 * name itself anyway. {@code /images} itself (the catalog) is left to its controller.
 */
@OriginMode
@Component
public class ImageHandlerMapping extends AbstractHandlerMapping {
    private final ImageWebHandler handler;

    /** Maps {@code /images/**} to {@code handler}. */
    public ImageHandlerMapping(ImageWebHandler handler) {
        this.handler = handler;
        setOrder(Ordered.HIGHEST_PRECEDENCE + 10);
    }

    @Override
    protected Mono<?> getHandlerInternal(ServerWebExchange exchange) {
        String path = exchange.getRequest().getPath().pathWithinApplication().value();
        return path.startsWith(ImageWebHandler.PREFIX) ? Mono.just(handler) : Mono.empty();
    }
}
