package dev.branchboot.agent.units;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ByteSizesTest {

    @Test
    void printsWholeUnitsWithoutDecimals() {
        assertEquals("512 B", ByteSizes.format(512));
        assertEquals("1 KiB", ByteSizes.format(1024));
        assertEquals("256 MiB", ByteSizes.format(256L << 20));
        assertEquals("4 GiB", ByteSizes.format(4L << 30));
    }

    @Test
    void printsThreeSignificantDigits() {
        assertEquals("1.50 GiB", ByteSizes.format(3L << 29));
        assertEquals("23.4 MiB", ByteSizes.format((long) (23.4 * (1 << 20))));
        assertEquals("233 MiB", ByteSizes.format(244_823_654L));
        assertEquals("1.01 KiB", ByteSizes.format(1030));
    }

    @Test
    void roundingUpToTheNextPowerOfTenDropsADigit() {
        assertEquals("10.0 KiB", ByteSizes.format(10_236)); // 9.996 KiB
        assertEquals("100 KiB", ByteSizes.format(102_350)); // 99.95 KiB
    }

    @Test
    void sizesOfAThousandUnitsAndMoreStayInPlainDigits() {
        assertEquals("1000 MiB", ByteSizes.format(1_049_100_000L)); // 1000.5 MiB
        assertEquals("1023 KiB", ByteSizes.format(1_047_900L)); // 1023.3 KiB
    }

    @Test
    void parsesWhatFormatPrints() {
        assertEquals(3L << 29, ByteSizes.parse("1.50 GiB".replace(" ", "")));
        assertEquals(64L << 10, ByteSizes.parse("64K"));
        assertEquals(256L << 20, ByteSizes.parse("256MiB"));
        assertThrows(IllegalArgumentException.class, () -> ByteSizes.parse("1e3"));
        assertThrows(IllegalArgumentException.class, () -> ByteSizes.parse("-1M"));
    }
}
