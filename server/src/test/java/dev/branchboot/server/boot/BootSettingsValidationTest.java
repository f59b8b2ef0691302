package dev.branchboot.server.boot;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.branchboot.server.BranchbootServerApplication;
import dev.branchboot.server.testing.OwnEventLoops;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

/**
 * A boot setting that could not go into a script, or that names what does not exist, stops start-up
 * with Spring Boot's failure report naming the property and the problem, before any PC is handed a
 * script.
 */
@ExtendWith(OutputCaptureExtension.class)
class BootSettingsValidationTest {

    @TempDir
    Path temp;

    /** A valid origin with profile lab, each of {@code settings} added or replacing the setting of its name. */
    private String[] args(String... settings) {
        // a repeated property would bind as a list: a test's own value replaces the default
        Map<String, String> args = new LinkedHashMap<>();
        for (String arg : List.of("--branchboot.images-dir=" + temp, "--server.port=0",
                "--server.address=127.0.0.1", "--spring.main.banner-mode=off",
                "--branchboot.boot.profiles.lab.image=lab.qcow2", "--branchboot.boot.profiles.lab.kernel=boot/vmlinuz",
                "--branchboot.boot.profiles.lab.initrd=boot/initrd.img")) {
            args.put(arg.substring(0, arg.indexOf('=')), arg);
        }
        for (String arg : settings) {
            args.put(arg.substring(0, arg.indexOf('=')), arg);
        }
        return args.values().toArray(String[]::new);
    }

    private void assertFailsWith(CapturedOutput output, String[] args, String... expected) {
        int from = output.getAll().length();
        assertThrows(Exception.class, () -> {
            // a server that starts despite the setting must not stay running for the tests after this one
            new SpringApplicationBuilder(BranchbootServerApplication.class, OwnEventLoops.class).run(args).close();
        });
        String report = output.getAll().substring(from);
        assertTrue(report.contains("APPLICATION FAILED TO START"), report);
        for (String text : expected) {
            assertTrue(report.contains(text), () -> "report lacks '" + text + "':\n" + report);
        }
    }

    @Test
    void kernelArgumentsThatWouldNeedEscapingAreRefused(CapturedOutput output) {
        assertFailsWith(output, args("--branchboot.boot.profiles.lab.cmdline=quiet x=${evil}"),
                "branchboot.boot.profiles.lab.cmdline: the argument 'x=${evil}' cannot go into an iPXE script: character '$' at position 3");
        assertFailsWith(output, args("--branchboot.boot.profiles.lab.cmdline=quiet || shell"),
                "branchboot.boot.profiles.lab.cmdline: the argument '||' cannot go into an iPXE script");
        assertFailsWith(output, args("--branchboot.boot.profiles.lab.cmdline=init=\"/bin/sh\""),
                "character '\"' at position 6");
        assertFailsWith(output, args("--branchboot.boot.profiles.lab.cmdline=ip=dhcp branchboot.server=http://elsewhere/images"),
                "branchboot.boot.profiles.lab.cmdline: branchboot.server= is written by the server");
        assertFailsWith(output, args("--branchboot.boot.profiles.lab.cmdline=initrd=other.img"),
                "branchboot.boot.profiles.lab.cmdline: initrd= is written by the server");
    }

    @Test
    void filesMustBeNamesInTheImagesFolder(CapturedOutput output) {
        assertFailsWith(output, args("--branchboot.boot.profiles.lab.kernel=../vmlinuz"),
                "branchboot.boot.profiles.lab.kernel: '../vmlinuz' is not a name in the images folder");
        assertFailsWith(output, args("--branchboot.boot.profiles.lab.initrd=boot/.hidden"),
                "branchboot.boot.profiles.lab.initrd: 'boot/.hidden' is not a name in the images folder");
        assertFailsWith(output, args("--branchboot.boot.profiles.lab.image=my image.qcow2"),
                "branchboot.boot.profiles.lab.image: 'my image.qcow2' is not a name in the images folder");
        assertFailsWith(output, args("--branchboot.boot.profiles.kiosk.image=kiosk.qcow2"),
                "branchboot.boot.profiles.kiosk.kernel is required", "branchboot.boot.profiles.kiosk.initrd is required");
    }

    @Test
    void profileNamesDefaultAndMachinesMustNameWhatExists(CapturedOutput output) {
        assertFailsWith(output, args("--branchboot.boot.profiles[l@b].image=x"),
                "branchboot.boot.profiles.l@b: a profile name is 1 to 64 letters, digits, '-' or '_'");
        assertFailsWith(output, args("--branchboot.boot.default-profile=labs"),
                "branchboot.boot.default-profile: 'labs' names no profile (profiles: lab)");
        assertFailsWith(output, args("--branchboot.boot.machines.52-54-00-12-34-56=kiosk"),
                "branchboot.boot.machines.52-54-00-12-34-56: 'kiosk' names no profile (profiles: lab)");
        assertFailsWith(output, args("--branchboot.boot.machines.52-54-00-12-34=lab"),
                "branchboot.boot.machines.52-54-00-12-34: the key is not a MAC address",
                "put the key in brackets: branchboot.boot.machines[52:54:00:12:34:56]");
        assertFailsWith(output, args("--branchboot.boot.machines.52-54-00-12-34-56=lab", "--branchboot.boot.machines.525400123456=lab"),
                "52:54:00:12:34:56 is listed twice");
    }

    @Test
    void aMisspeltProfileSettingIsAnUnknownSetting(CapturedOutput output) {
        // (cmd-line would be cmdline: Spring ignores dashes in names)
        assertFailsWith(output, args("--branchboot.boot.profiles.lab.cmdlines=quiet"), "Unknown setting",
                "branchboot.boot.profiles.lab.cmdlines");
        assertFailsWith(output, args("--branchboot.boot.default-profil=lab"), "Unknown setting", "branchboot.boot.default-profil ",
                "did you mean branchboot.boot.default-profile?");
    }
}
