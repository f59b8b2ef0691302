package dev.branchboot.server.ipxe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Words that would mean something to iPXE's parser or to the kernel's are refused, whole lines are
 * never half written, and the words real scripts need pass.
 */
class IpxeScriptTest {

    @Test
    void theWordsOfRealScriptsPass() {
        for (String word : List.of("http://10.0.2.100:8080/images/boot/vmlinuz-6.1.0-28-amd64", "initrd=initrd.img",
                "branchboot.server=http://10.1.0.5:8080/images,https://origin.example.org/images",
                "branchboot.image=win11@2026-11-24.qcow2", "console=ttyS0,115200n8", "root=/dev/nbd0p1", "ip=dhcp",
                "panic=-1", "http://[fd00::5]:8080/images", "branchboot.cow=ram:512M", "a%20b", "x~y+z")) {
            assertNull(IpxeScript.problemWith(word), word);
        }
    }

    @Test
    void everythingIpxeOrTheKernelWouldInterpretIsRefused() {
        // ${...} expands settings, # starts a comment, || && ; end commands, a trailing \ continues the
        // line, white space splits words, " quotes on the kernel's command line, a line break ends the line.
        for (String word : List.of("${net0/mac}", "$x", "#comment", "||", "&&", ";", "a\\", "a b", "a\tb", "a\nb", "a\rb",
                "\"quoted\"", "'", "a<b", "a>b", "a|b", "a&b", "a;b", "a?b", "a*b", "é", "a\u0000b", "")) {
            assertTrue(IpxeScript.problemWith(word) != null, () -> "accepted " + word);
        }
        assertEquals("character '$' at position 3 is not allowed (only letters, digits and . _ ~ : / @ = , + % - [ ] are: "
                + "iPXE and the kernel command line have no escaping)", IpxeScript.problemWith("ab${x}"));
        assertTrue(IpxeScript.problemWith("a\nb").startsWith("character U+000A at position 2"));
    }

    @Test
    void aLineWithOneBadWordIsNotWrittenAtAll() {
        IpxeScript script = new IpxeScript().line("echo", "ok");
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> script.line("kernel", "http://h/k", "x=${evil}"));
        assertTrue(refused.getMessage().contains("'$'"), refused.getMessage());
        assertEquals("#!ipxe\necho ok\n", script.text());
        assertThrows(IllegalArgumentException.class, () -> script.comment(List.of("fine", "not\nfine")));
        assertEquals("#!ipxe\necho ok\n", script.text());
    }

    @Test
    void aScriptIsTheShebangThenItsLines() {
        String text = new IpxeScript().comment(List.of("made", "here")).line("kernel", "http://h/k", "quiet")
                .line(List.of("initrd", "http://h/i")).line("boot").text();
        assertEquals("#!ipxe\n# made here\nkernel http://h/k quiet\ninitrd http://h/i\nboot\n", text);
        assertEquals("what cannot go into an iPXE script: it is empty",
                assertThrows(IllegalArgumentException.class, () -> IpxeScript.requireWord("", "what")).getMessage());
    }
}
