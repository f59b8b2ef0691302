package dev.branchboot.server.testing;

import dev.branchboot.server.config.BranchbootProperties;
import java.util.Map;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/**
 * Settings for a test that builds the server's parts by hand, bound the way Spring Boot binds them
 * at start-up: from {@code branchboot.*} keys as an operator writes them ({@code cache.block-size:
 * 4KB}), with every other setting at its default. Unit tests so use the real names, units and
 * conversions rather than a setter per field.
 */
public final class TestProperties {
    private TestProperties() {
    }

    /**
     * The settings with these keys set, named without the {@code branchboot.} prefix, such as
     * {@code "upstreams", "file:/srv/images"} or {@code "cache.dir", "/tmp/cache"}.
     */
    public static BranchbootProperties of(String... keysAndValues) {
        if (keysAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("keys and values come in pairs: " + String.join(", ", keysAndValues));
        }
        MapConfigurationPropertySource source = new MapConfigurationPropertySource();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            source.put("branchboot." + keysAndValues[i], keysAndValues[i + 1]);
        }
        return new Binder(source).bindOrCreate("branchboot", Bindable.of(BranchbootProperties.class));
    }

    /** As {@link #of(String...)}, from a map of keys (without the prefix) to values. */
    public static BranchbootProperties of(Map<String, String> settings) {
        return of(settings.entrySet().stream().flatMap(e -> java.util.stream.Stream.of(e.getKey(), e.getValue()))
                .toArray(String[]::new));
    }
}
