package dev.branchboot.agent.serve;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.logging.Logger;

/**
 * The kernel's out-of-memory score adjustment of this process ({@code /proc/self/oom_score_adj}).
 *
 * <p>An agent that serves the root disk must be the last process the OOM killer picks: killing it
 * turns every later disk access of the PC into an I/O error. Lowering the score needs root (or
 * CAP_SYS_RESOURCE); when the kernel refuses, the agent keeps serving and says so in the log,
 * because a boot that goes on with the default score is better than one that stops.
 */
public final class OomScore {
    private static final Logger LOG = Logger.getLogger(OomScore.class.getName());
    /** The kernel's range for oom_score_adj: -1000 never kills, 1000 kills first. */
    public static final int MIN = -1000;
    /** The kernel's upper bound. */
    public static final int MAX = 1000;
    private static final Path SELF = Path.of("/proc/self/oom_score_adj");

    private OomScore() {
    }

    /** Sets this process's adjustment; returns whether the kernel took it. */
    public static boolean set(int adjustment) {
        return set(SELF, adjustment);
    }

    /** Sets the adjustment through {@code file} (the /proc file, or a stand-in in tests). */
    static boolean set(Path file, int adjustment) {
        if (adjustment < MIN || adjustment > MAX) {
            throw new IllegalArgumentException("an OOM score adjustment lies between " + MIN + " and " + MAX + ", not " + adjustment);
        }
        try {
            Files.writeString(file, adjustment + "\n", StandardCharsets.US_ASCII);
            String now = Files.readString(file, StandardCharsets.US_ASCII).trim();
            if (!now.equals(Integer.toString(adjustment))) {
                LOG.warning("OOM score adjustment is " + now + " after writing " + adjustment + " to " + file);
                return false;
            }
            LOG.fine("OOM score adjustment set to " + adjustment);
            return true;
        } catch (NoSuchFileException e) {
            LOG.warning("cannot set the OOM score adjustment: " + file + " does not exist (not Linux?)");
        } catch (IOException | SecurityException e) {
            LOG.warning("cannot set the OOM score adjustment to " + adjustment + " through " + file + ": " + e.getMessage()
                    + " (lowering it needs root or CAP_SYS_RESOURCE); the kernel may pick this agent when memory runs out");
        }
        return false;
    }
}
