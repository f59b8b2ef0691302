#!/usr/bin/python3
"""Makes a raw disk whose bytes a recorded boot's reads touch, for benchmarks that replay the boot
without the Debian image it was recorded on.

Usage: trace-image.py TRACE OUT.raw [--seed N]

Every 64 KiB cluster that a read (R line) of TRACE touches is filled with text-like bytes (words of
a small vocabulary and some random bytes), which zstd and deflate shrink about 2-3 times, as they do
an OS's files; the rest of the disk stays a hole. The disk's size is the end of the last read
rounded up to 1 GiB. The same trace and seed give the same bytes.
"""
import argparse
import gzip
import random

CLUSTER = 65536


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    opener = gzip.open if args.trace.endswith(".gz") else open
    clusters = set()
    end = 0
    with opener(args.trace, "rt") as f:
        for line in f:
            if line.startswith("R "):
                w = line.split()
                offset, length = int(w[3]), int(w[4])
                end = max(end, offset + length)
                for c in range(offset // CLUSTER, (offset + length - 1) // CLUSTER + 1):
                    clusters.add(c)
    size = (end + (1 << 30) - 1) >> 30 << 30
    rng = random.Random(args.seed)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz_/.") for _ in range(rng.randint(2, 12))) for _ in range(3000)]
    with open(args.out, "wb") as out:
        out.truncate(size)
        for c in sorted(clusters):
            chunk = bytearray()
            while len(chunk) < CLUSTER:
                if rng.random() < 0.02:
                    chunk += rng.randbytes(rng.randint(8, 64))
                else:
                    chunk += rng.choice(words) + b" "
            out.seek(c * CLUSTER)
            out.write(chunk[:CLUSTER])
    print(f"{args.out}: {size} bytes, {len(clusters)} clusters of 64 KiB written")


if __name__ == "__main__":
    main()
