package dev.branchboot.agent.manifest;

import dev.branchboot.agent.cli.AgentCommand;
import dev.branchboot.agent.cli.CommandSpec;
import dev.branchboot.agent.cli.ParsedArguments;
import dev.branchboot.agent.cli.UsageException;
import dev.branchboot.integrity.ImageManifest;
import dev.branchboot.integrity.ImageVerifier;
import dev.branchboot.integrity.ManifestWriter;
import dev.branchboot.integrity.PemKeys;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * {@code manifest IMAGE --sign-key KEY.pem}: makes the signed manifest of an image file at publish
 * time ({@code IMAGE.manifest} beside it); {@code manifest IMAGE --trust-key PUB.pem} checks an
 * image file against its manifest, as a branch or a PC would.
 */
public final class ManifestCommand implements AgentCommand {
    private static final CommandSpec SPEC = new CommandSpec("manifest",
            "Signs an image file's manifest (IMAGE.manifest beside it), or checks the file against it.",
            "Publish the manifest with the image, before repointing a name at it: branches and PCs given the",
            "public key (branchboot.trust-key, --trust-key) use only bytes the manifest vouches for.")
            .positional("IMAGE", "The image file (a revision's own file, not a symlink to it).")
            .option("--sign-key", "KEY.pem", "Write IMAGE.manifest signed with this Ed25519 private key "
                    + "(openssl genpkey -algorithm ed25519 -out KEY.pem).")
            .option("--trust-key", "PUB.pem", "Check IMAGE against IMAGE.manifest with this public key "
                    + "(openssl pkey -in KEY.pem -pubout -out PUB.pem).")
            .option("--name", "NAME", "With --sign-key: the name clients ask for, relative to the images folder "
                    + "(lab/win11.qcow2). Default: IMAGE's file name without its @REVISION part (win11@2026-11-24.qcow2 "
                    + "is a revision of win11.qcow2). The manifest is valid for NAME and for the revision file's own name only.")
            .flag("-p, --progress", "Show progress on standard error.");

    @Override
    public CommandSpec spec() {
        return SPEC;
    }

    @Override
    public int run(ParsedArguments args, PrintStream out, PrintStream err) throws Exception {
        Path image = Path.of(args.positional(0));
        Path signKey = args.path("--sign-key");
        Path trustKey = args.path("--trust-key");
        if ((signKey == null) == (trustKey == null)) {
            throw new UsageException("Give --sign-key KEY.pem (to sign) or --trust-key PUB.pem (to check), one of them");
        }
        if (!Files.isRegularFile(image)) {
            throw new UsageException("'" + image + "' is not a file");
        }
        String name = args.string("--name", null);
        if (name != null && signKey == null) {
            throw new UsageException("--name is signed into a new manifest: give it with --sign-key");
        }
        if (name == null) {
            name = ImageManifest.defaultImageName(image.getFileName().toString());
        }
        try {
            ImageManifest.checkName(name);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--name '" + name + "': " + e.getMessage());
        }
        long size = Files.size(image);
        boolean progress = args.flag("--progress");
        if (signKey != null) {
            Path manifest = ManifestWriter.write(image, name, java.time.Instant.now(), PemKeys.privateKey(signKey),
                    progress ? done -> progress(err, done, size) : null);
            if (progress) {
                err.println();
            }
            ImageManifest written = read(manifest, image.getFileName().toString(), null);
            out.println(manifest + ": " + written.revision() + " for image '" + written.imageName() + "' (file '"
                    + written.fileName() + "'), published " + written.published() + ", " + written.pageCount()
                    + " pages of block digests, " + Files.size(manifest) + " bytes");
            return 0;
        }
        Path manifest = image.toAbsolutePath().resolveSibling(image.getFileName() + ".manifest");
        ImageManifest checked = read(manifest, image.getFileName().toString(), trustKey);
        String signedFile = checked.fileName().substring(checked.fileName().lastIndexOf('/') + 1);
        if (!signedFile.equals(image.getFileName().toString())) {
            throw new dev.branchboot.integrity.ManifestException(image.toString(), "the manifest was signed for the file '"
                    + checked.fileName() + "', not this one");
        }
        if (checked.imageSize() != size) {
            throw new dev.branchboot.integrity.ManifestException(image.toString(), "the manifest describes a file of "
                    + checked.imageSize() + " bytes, this one has " + size);
        }
        ImageVerifier verifier;
        try (FileChannel manifestFile = FileChannel.open(manifest, StandardOpenOption.READ)) {
            verifier = new ImageVerifier(checked, (offset, length) -> readFully(manifestFile, offset, length).array());
            try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ)) {
                int step = 1 << 20;
                for (long offset = 0; offset < size; offset += step) {
                    verifier.verify(offset, readFully(file, offset, (int) Math.min(step, size - offset)));
                    if (progress) {
                        progress(err, Math.min(size, offset + step), size);
                    }
                }
            }
        }
        if (progress) {
            err.println();
        }
        out.println(image + ": every byte matches its signed manifest, " + checked.revision() + ", image '"
                + checked.imageName() + "' published " + checked.published());
        return 0;
    }

    private static ImageManifest read(Path manifest, String image, Path trustKey) throws Exception {
        byte[] bytes = Files.readAllBytes(manifest);
        java.security.PublicKey key = trustKey != null ? PemKeys.publicKey(trustKey) : null;
        if (key == null) {
            // Just written: read back without a key only to describe it.
            return ImageManifest.unverified(image, ByteBuffer.wrap(bytes));
        }
        return ImageManifest.verify(image, ByteBuffer.wrap(bytes), key);
    }

    private static ByteBuffer readFully(FileChannel channel, long offset, int length) throws java.io.IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, offset + buffer.position()) < 0) {
                throw new java.io.EOFException("the file ends at " + (offset + buffer.position()));
            }
        }
        return buffer.flip();
    }

    private static void progress(PrintStream err, long done, long size) {
        err.printf("\r%d of %d bytes (%.0f%%)", done, size, size == 0 ? 100.0 : 100.0 * done / size);
    }
}
