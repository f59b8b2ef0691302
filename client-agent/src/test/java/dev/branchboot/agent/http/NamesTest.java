package dev.branchboot.agent.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.URI;
import org.junit.jupiter.api.Test;

/** Image names, server URLs and image URLs: encoding, resolution and what may not escape the folder. */
class NamesTest {
    final URI base = Names.base("http://branch:8080/images");

    @Test
    void aServerUrlIsTheFolderWithATrailingSlash() {
        assertEquals("http://branch:8080/images/", base.toString());
        assertThrows(IllegalArgumentException.class, () -> Names.base("ftp://x/images"));
        assertThrows(IllegalArgumentException.class, () -> Names.base("http://x/images?q=1"));
    }

    @Test
    void namesAreEncodedAndDecodedBack() {
        for (String name : new String[] {"win11@2026-11-24.qcow2", "sub/dir/a b+c%.qcow2", "ü.qcow2", "a:b.qcow2"}) {
            URI url = base.resolve(Names.encode(name));
            assertEquals(name, Names.underBase(base, url), url.toString());
        }
    }

    @Test
    void nothingOutsideTheFolderIsReachable() {
        assertNull(Names.underBase(base, base.resolve("../etc/passwd")));
        assertNull(Names.underBase(base, URI.create("http://other:8080/images/x.qcow2")));
        assertNull(Names.underBase(base, URI.create("http://branch:8080/images/")));
        assertEquals("sub/base.qcow2", Names.underBase(base, base.resolve("sub/top.qcow2").resolve("base.qcow2")));
    }

    @Test
    void anImageUrlSplitsIntoServerAndName() {
        RemoteImages.Location location = RemoteImages.split("http://h:81/images/sub/win11.qcow2");
        assertEquals("http://h:81/images/sub/", location.server());
        assertEquals("win11.qcow2", location.name());
        assertThrows(IllegalArgumentException.class, () -> RemoteImages.split("http://h:81/images/"));
    }
}
