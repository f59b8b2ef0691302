package dev.branchboot.server.images;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpStatus;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;

/**
 * Turns the store's typed exceptions into RFC 9457 problem responses: 400 for a name that can
 * never be valid, 404 for one that names nothing servable. The 404 body never says why (that would
 * tell a prober what exists outside the root); the debug log does.
 */
@RestControllerAdvice
public class ImageErrorHandler {
    private static final Logger log = LoggerFactory.getLogger(ImageErrorHandler.class);

    /** 400 with the reason: the client sent a name no file can have. */
    @ExceptionHandler(ImageNameException.class)
    public ResponseEntity<ProblemDetail> badName(ImageNameException e) {
        log.debug("{}", e.getMessage());
        return ResponseEntity.badRequest().body(ProblemDetail.forStatusAndDetail(HttpStatus.BAD_REQUEST, e.getMessage()));
    }

    /** 404 without detail. */
    @ExceptionHandler(ImageNotFoundException.class)
    public ResponseEntity<ProblemDetail> notFound(ImageNotFoundException e) {
        log.debug("{}", e.getMessage());
        return ResponseEntity.status(HttpStatus.NOT_FOUND)
                .body(ProblemDetail.forStatusAndDetail(HttpStatus.NOT_FOUND, "no image named '"
                        + ImageNameException.printable(e.imageName()) + "'"));
    }
}
