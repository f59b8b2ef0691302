package dev.branchboot.integrity;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a reader of signed images has accepted so far: for each image name, the newest publication
 * time of a manifest it accepted. {@link #check} refuses a manifest made for another image
 * (substitution) and one published before a revision already accepted for the name (rollback: a
 * server offering last month's image with its own valid signature).
 *
 * <p>The memory lives in this object, and when it was made by {@link #inFile} also in that file,
 * rewritten (temporary file, fsync, rename) each time a newer revision is accepted, so it survives
 * a restart of the process. A branch keeps it in its cache directory; an agent where
 * {@code --trust-state} points (a diskless PC that reboots starts with none, and relies on its
 * branch's). Rolling back on purpose means signing the older image again: its new manifest has a
 * new publication time.
 *
 * <p>File format: a first line {@code branchboot-accepted-revisions 1}, then one line per name:
 * the publication time in milliseconds since the epoch, the revision ({@code sha256:...}) and the
 * name in URL-safe Base64 (names may hold spaces). Thread-safe.
 */
public final class AcceptedRevisions {
    private static final String HEADER = "branchboot-accepted-revisions 1";

    /** The newest accepted revision of a name. */
    private record Accepted(long publishedMillis, String revision) {
    }

    private final Path file;
    private final Map<String, Accepted> newest = new TreeMap<>();

    private AcceptedRevisions(Path file) {
        this.file = file;
    }

    /** A memory that lives as long as this process. */
    public static AcceptedRevisions inMemory() {
        return new AcceptedRevisions(null);
    }

    /**
     * A memory kept in {@code file}, read now if it exists (else it is created at the first
     * acceptance).
     *
     * @throws IOException naming the file when it cannot be read or is not such a file
     */
    public static AcceptedRevisions inFile(Path file) throws IOException {
        AcceptedRevisions accepted = new AcceptedRevisions(file);
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return accepted;
        }
        if (lines.isEmpty() || !lines.get(0).equals(HEADER)) {
            throw new IOException(file + " is not a branchboot accepted-revisions file (its first line is not '" + HEADER + "')");
        }
        for (int i = 1; i < lines.size(); i++) {
            String[] fields = lines.get(i).split(" ");
            try {
                if (fields.length != 3) {
                    throw new IllegalArgumentException("3 fields expected");
                }
                String name = new String(Base64.getUrlDecoder().decode(fields[2]), StandardCharsets.UTF_8);
                accepted.newest.put(name, new Accepted(Long.parseLong(fields[0]), fields[1]));
            } catch (IllegalArgumentException e) {
                throw new IOException(file + " line " + (i + 1) + " is damaged: " + e.getMessage(), e);
            }
        }
        return accepted;
    }

    /**
     * Accepts {@code manifest} (already checked against the trust key) for a reader that asked for
     * {@code requested}, remembering its publication time when it is the newest for that name.
     *
     * @throws ManifestException naming the image when the manifest was signed for another image,
     *                           or published before a revision already accepted for the name
     * @throws IOException       when the memory's file cannot be written (the manifest is then
     *                           not accepted: a reader must not forget what it accepted)
     */
    public synchronized void check(String requested, ImageManifest manifest) throws IOException {
        if (!manifest.names(requested)) {
            throw new ManifestException(requested, "the manifest is signed for image '" + manifest.imageName() + "' (file '"
                    + manifest.fileName() + "'), not this one: another image offered under this name");
        }
        Accepted known = newest.get(requested);
        long published = manifest.published().toEpochMilli();
        if (known != null && published < known.publishedMillis()) {
            throw new ManifestException(requested, "the offered revision " + manifest.revision() + " was published "
                    + manifest.published() + ", before revision " + known.revision() + " (published "
                    + Instant.ofEpochMilli(known.publishedMillis()) + ") that was already accepted for this name: refused as a "
                    + "rollback. To go back to an older image on purpose, sign it again (its new manifest gets a new time)"
                    + (file == null ? "" : "; what was accepted is kept in " + file));
        }
        if (known == null || published > known.publishedMillis()) {
            Accepted previous = newest.put(requested, new Accepted(published, manifest.revision()));
            try {
                save();
            } catch (IOException e) {
                if (previous == null) {
                    newest.remove(requested);
                } else {
                    newest.put(requested, previous);
                }
                throw new IOException("cannot record the accepted revision of '" + requested + "' in " + file + ": " + e, e);
            }
        }
    }

    /** The publication time of the newest revision accepted for {@code name}, or {@code null}. */
    public synchronized Instant newestPublished(String name) {
        Accepted known = newest.get(name);
        return known == null ? null : Instant.ofEpochMilli(known.publishedMillis());
    }

    private void save() throws IOException {
        if (file == null) {
            return;
        }
        StringBuilder text = new StringBuilder(HEADER).append('\n');
        newest.forEach((name, accepted) -> text.append(accepted.publishedMillis()).append(' ').append(accepted.revision())
                .append(' ').append(Base64.getUrlEncoder().withoutPadding().encodeToString(name.getBytes(StandardCharsets.UTF_8)))
                .append('\n'));
        Path parent = file.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path temporary = Files.createTempFile(parent, "." + file.getFileName(), ".part");
        try {
            Files.writeString(temporary, text, StandardCharsets.UTF_8);
            try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.WRITE)) {
                channel.force(true);
            }
            Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel directory = FileChannel.open(parent, StandardOpenOption.READ)) {
                directory.force(true);
            } catch (IOException e) {
                // Some file systems cannot sync a directory; the rename is then as durable as they make it.
            }
        } finally {
            Files.deleteIfExists(temporary);
        }
    }

    @Override
    public String toString() {
        return file == null ? "accepted revisions (in memory)" : "accepted revisions in " + file;
    }
}
