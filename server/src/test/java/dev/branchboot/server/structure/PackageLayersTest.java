package dev.branchboot.server.structure;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The server's packages point one way, as the README's code map says: a package uses only packages
 * of lower layers (or of its own layer where that layer is a set of independent helpers). Read from
 * the sources' import lines and fully qualified names, so a new back edge fails here, naming the
 * file and the import, before it tangles the features.
 */
class PackageLayersTest {
    private static final Path SOURCES = Path.of("src/main/java/dev/branchboot/server");
    private static final Pattern REFERENCE = Pattern.compile("\\bdev\\.branchboot\\.server\\.([a-z]+)\\.[A-Z]");

    /** Layer of each package; higher uses lower. Packages on one layer may not use each other unless listed below. */
    private static final Map<String, Integer> LAYERS = Map.ofEntries(
            Map.entry("branch", 6), Map.entry("admin", 6), Map.entry("boot", 6), Map.entry("catalog", 6),
            Map.entry("replication", 5),
            Map.entry("cache", 4),
            Map.entry("upstream", 3),
            Map.entry("images", 2),
            Map.entry("http", 1), Map.entry("connections", 1), Map.entry("ipxe", 1), Map.entry("metrics", 1),
            Map.entry("config", 1),
            Map.entry("util", 0));

    /**
     * Helpers of one layer that use a neighbour: settings validate iPXE values, the timeouts read
     * settings, range responses count their bytes.
     */
    private static final List<String> ALLOWED_SIDEWAYS = List.of("config->ipxe", "connections->config", "http->metrics");

    @Test
    void everyPackageHasALayer() throws IOException {
        TreeSet<String> packages = new TreeSet<>();
        try (Stream<Path> dirs = Files.list(SOURCES)) {
            dirs.filter(Files::isDirectory).forEach(dir -> packages.add(dir.getFileName().toString()));
        }
        assertEquals(new TreeSet<>(LAYERS.keySet()), packages,
                "a package was added or removed: give it a layer here and a line in the README's code map");
    }

    @Test
    void noPackageUsesOneAboveItOrBesideIt() throws IOException {
        List<String> violations = new ArrayList<>();
        try (Stream<Path> files = Files.walk(SOURCES)) {
            for (Path file : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".java"))::iterator) {
                Path relative = SOURCES.relativize(file);
                if (relative.getNameCount() < 2) {
                    continue; // the application class at the root wires everything
                }
                String from = relative.getName(0).toString();
                Matcher reference = REFERENCE.matcher(Files.readString(file));
                TreeSet<String> used = new TreeSet<>();
                while (reference.find()) {
                    used.add(reference.group(1));
                }
                for (String to : used) {
                    if (!to.equals(from) && !allowed(from, to)) {
                        violations.add(relative + " uses " + to + " (layer " + LAYERS.get(to) + " from layer "
                                + LAYERS.get(from) + ")");
                    }
                }
            }
        }
        assertTrue(violations.isEmpty(), String.join("\n", violations));
    }

    private static boolean allowed(String from, String to) {
        Integer fromLayer = LAYERS.get(from);
        Integer toLayer = LAYERS.get(to);
        if (fromLayer == null || toLayer == null) {
            return false;
        }
        return toLayer < fromLayer || ALLOWED_SIDEWAYS.contains(from + "->" + to);
    }
}
