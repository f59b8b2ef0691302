package dev.branchboot.qcow2;

import com.github.luben.zstd.util.Native;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Properties;

/**
 * Loads zstd-jni's native library from a per-user cache directory instead of extracting it to a new
 * temporary file on every start, as zstd-jni does by default (that extraction, with the secure
 * random it needs for the file name, cost about 70 ms of every short run); see
 * {@link NativeLibraryCache}. When that directory cannot be used, and on any failure, zstd-jni's
 * own loader is used.
 */
final class ZstdNativeLibrary {
    private ZstdNativeLibrary() {
    }

    static synchronized void ensureLoaded() {
        if (Native.isLoaded()) {
            return;
        }
        try {
            Path library = cachedLibrary();
            if (library != null) {
                System.load(library.toString());
                Native.assumeLoaded();
                return;
            }
        } catch (IOException | RuntimeException | UnsatisfiedLinkError e) {
            // Fall through to zstd-jni's own loader, which reports its own errors.
        }
        Native.load();
    }

    private static Path cachedLibrary() throws IOException {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.contains("linux")) {
            return null;
        }
        if (arch.equals("x86_64")) {
            arch = "amd64";
        }
        Properties properties = new Properties();
        try (InputStream in = ZstdNativeLibrary.class.getResourceAsStream("zstd-native.properties")) {
            if (in == null) {
                return null;
            }
            properties.load(in);
        }
        String version = properties.getProperty("version");
        String fileName = "libzstd-jni-" + version + ".so";
        String resource = "/linux/" + arch + "/" + fileName;
        try (InputStream in = Native.class.getResourceAsStream(resource)) {
            return in == null ? null : NativeLibraryCache.unpack(fileName, in);
        }
    }
}
