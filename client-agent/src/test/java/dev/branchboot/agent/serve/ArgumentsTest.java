package dev.branchboot.agent.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Parsing of {@code --listen} and {@code --cow}. */
class ArgumentsTest {
    @Test
    void listenAddresses() {
        assertEquals(UnixDomainSocketAddress.of("/run/x.sock"), ListenAddress.parse("unix:/run/x.sock").address());
        InetSocketAddress tcp = (InetSocketAddress) ListenAddress.parse("tcp:127.0.0.1:10809").address();
        assertEquals(10809, tcp.getPort());
        assertEquals("tcp:127.0.0.1:10809", ListenAddress.format(tcp));
        InetSocketAddress v6 = (InetSocketAddress) ListenAddress.parse("tcp:[::1]:0").address();
        assertEquals(0, v6.getPort());
        for (String bad : new String[] {"unix:", "tcp:host", "tcp:host:99999", "udp:1.2.3.4:5", "/run/x.sock"}) {
            assertThrows(IllegalArgumentException.class, () -> ListenAddress.parse(bad), bad);
        }
    }

    @Test
    void overlays() {
        assertEquals(CowSpec.Kind.NONE, CowSpec.parse("none").kind());
        assertEquals(1L << 30, CowSpec.parse("ram").ramBytes());
        assertEquals(256L << 20, CowSpec.parse("ram:256M").ramBytes());
        assertEquals(Path.of("/var/lib/pc.cow"), CowSpec.parse("file:/var/lib/pc.cow").file());
        for (String bad : new String[] {"ram:1", "ram:x", "file:", "disk", ""}) {
            assertThrows(IllegalArgumentException.class, () -> CowSpec.parse(bad), bad);
        }
    }
}
