package dev.branchboot.agent.http;

import dev.branchboot.qcow2.ByteSource;
import java.io.IOException;

/**
 * Opens a file of a backing chain by its path in the servers' images folder, pinned and with
 * read-ahead the way the chain's top image was ({@link RemoteImages#open}): how an
 * {@link HttpRangeSource} opens the backing file named inside it without knowing who made it.
 */
@FunctionalInterface
interface BackingFileOpener {

    /**
     * Opens {@code path}, a path relative to the servers' images folder that stays inside it.
     *
     * @throws IOException as {@link RemoteImages#open} does: the file is on no server, or no server
     *                     answered within the retry deadline
     */
    ByteSource open(String path) throws IOException;
}
