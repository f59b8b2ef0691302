package dev.branchboot.qcow2;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * A per-user directory of native libraries unpacked from jars, so that each is written once rather
 * than to a new temporary file on every start. The directory must belong to the current user and
 * be private to them, or nothing is unpacked there (a shared /tmp must not let another user plant
 * a library we would load).
 */
final class NativeLibraryCache {
    private static final Set<PosixFilePermission> PRIVATE = PosixFilePermissions.fromString("rwx------");

    private NativeLibraryCache() {
    }

    /**
     * The cached copy of {@code fileName}, written from {@code content} (closed by the caller) if it
     * is not there yet; null when the directory is not safe to use. A file name must change with its
     * content (callers put a version or a digest in it): an existing file is used as it is.
     */
    static Path unpack(String fileName, InputStream content) throws IOException {
        String user = System.getProperty("user.name", "unknown");
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "branchboot-native-" + user);
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectories(dir.getParent());
            try {
                Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PRIVATE));
            } catch (FileAlreadyExistsException raced) {
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
        Path temp = Files.createTempFile(dir, fileName, ".part");
        try {
            Files.copy(content, temp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(temp, library, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(temp);
        }
        return library;
    }
}
