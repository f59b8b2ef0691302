package dev.branchboot.agent.text;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class PeerTextTest {

    @Test
    void printableAsciiIsKeptEverythingElseEscaped() {
        assertEquals("HTTP/1.1 200 OK \"a\\b\"", PeerText.escape("HTTP/1.1 200 OK \"a\\b\""));
        assertEquals("\\x00\\xff\\x1b[31m\\x0d\\x0a\\x7f\\x85", PeerText.escape("\0\u00ff\u001b[31m\r\n\u007f\u0085"));
        assertEquals("b\\xfcro \\u{20ac} \\u{1f600}", PeerText.escape("büro € \uD83D\uDE00"));
        assertEquals("null", PeerText.escape(null));
    }

    @Test
    void escapingTwiceAddsNothingAndLongTextIsCut() {
        String once = PeerText.escape("\0x\n");
        assertEquals(once, PeerText.escape(once));
        assertEquals("abc... (10 characters)", PeerText.escape("abcdefghij", 3));
        assertEquals("\\x00\\x01... (5 characters)", PeerText.escape("\0\1\2\3\4", 2));
    }
}
