package dev.branchboot.server.branch;

import dev.branchboot.server.config.BranchMode;
import org.springframework.core.Ordered;
import org.springframework.stereotype.Component;
import org.springframework.web.reactive.handler.AbstractHandlerMapping;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * Routes every request under {@code /images/} to {@link BranchImageWebHandler} in branch mode,
 * with a prefix test for the same reason as origin mode's mapping: it is the hot path.
 */
@BranchMode
@Component
public class BranchHandlerMapping extends AbstractHandlerMapping {
    private final BranchImageWebHandler handler;

    /** Maps {@code /images/**} to {@code handler}. */
    public BranchHandlerMapping(BranchImageWebHandler handler) {
        this.handler = handler;
        setOrder(Ordered.HIGHEST_PRECEDENCE + 10);
    }

    @Override
    protected Mono<?> getHandlerInternal(ServerWebExchange exchange) {
        String path = exchange.getRequest().getPath().pathWithinApplication().value();
        return path.startsWith(BranchImageWebHandler.PREFIX) ? Mono.just(handler) : Mono.empty();
    }
}
