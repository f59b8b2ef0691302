package dev.branchboot.qcow2;

import com.github.luben.zstd.util.Native;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Locale;
import java.util.Properties;
import java.util.Set;

/**
 * Loads zstd-jni's native library from a per-user cache directory instead of extracting it to a new
 * temporary file on every start, as zstd-jni does by default (that extraction, with the secure
 * random it needs for the file name, cost about 70 ms of every short run). The cache directory must
 * belong to the current user and be private to them; otherwise, and on any failure, zstd-jni's own
 * loader is used.
 */
final class ZstdNativeLibrary {
    private static final Set<PosixFilePermission> PRIVATE = PosixFilePermissions.fromString("rwx------");

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
        String user = System.getProperty("user.name", "unknown");
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "branchboot-native-" + user);
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectories(dir.getParent());
            try {
                Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PRIVATE));
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                // Another process made it; it is checked below like any existing directory.
            }
        }
        if (!Files.getOwner(dir, LinkOption.NOFOLLOW_LINKS).getName().equals(user)
                || !Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS).equals(PRIVATE)) {
            return null;
        }
        Path library = dir.resolve(fileName);
        if (Files.isRegularFile(library, LinkOption.NOFOLLOW_LINKS)) {
            return library;
        }
        try (InputStream in = Native.class.getResourceAsStream(resource)) {
            if (in == null) {
                return null;
            }
            Path temp = Files.createTempFile(dir, fileName, ".part");
            try {
                Files.copy(in, temp, StandardCopyOption.REPLACE_EXISTING);
                Files.move(temp, library, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(temp);
            }
        }
        return library;
    }
}
