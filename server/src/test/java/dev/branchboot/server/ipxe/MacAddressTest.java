package dev.branchboot.server.ipxe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The forms iPXE and Spring's property keys write a MAC address in all name one card; nothing else does. */
class MacAddressTest {

    @Test
    void colonsHyphensAndBareHexAreTheSameCard() {
        MacAddress card = new MacAddress("52:54:00:ab:cd:ef");
        for (String form : List.of("52:54:00:ab:cd:ef", "52:54:00:AB:CD:EF", "52-54-00-ab-cd-ef", "52-54-00-AB-cd-EF",
                "525400abcdef", "525400ABCDEF")) {
            assertEquals(card, MacAddress.parse(form), form);
        }
        assertEquals("52:54:00:ab:cd:ef", MacAddress.parse("52-54-00-AB-CD-EF").toString());
    }

    @Test
    void anythingElseIsRefusedWithoutRepeatingIt() {
        for (String bad : List.of("", "52:54:00:ab:cd", "52:54:00:ab:cd:ef:01", "52:54-00:ab:cd:ef", "52:54:00:ab:cd:eg",
                "5254.00ab.cdef", "52:54:00:ab:cd:ef ", "${net0/mac}", "525400abcde", "0x525400abcdef")) {
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () -> MacAddress.parse(bad), bad);
            assertEquals("a MAC address is six hex pairs separated by ':' or '-' (52:54:00:12:34:56, 52-54-00-12-34-56) "
                    + "or twelve hex digits", refused.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> MacAddress.parse(null));
        assertThrows(IllegalArgumentException.class, () -> new MacAddress("52-54-00-ab-cd-ef"));
    }
}
