#!/usr/bin/python3
"""Seeded random 4 KiB reads at queue depth 1 from an NBD export; prints p50/p99 latency and IOPS.

Usage: nbd-random-reads.py NBD_URI COUNT SEED
Needs python3-libnbd (Debian's /usr/bin/python3).
"""
import random
import sys
import time

import nbd

uri, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
h = nbd.NBD()
h.connect_uri(uri)
size = h.get_size()
rng = random.Random(seed)
blocks = size // 4096
lat = []
start = time.perf_counter()
for _ in range(count):
    offset = rng.randrange(blocks) * 4096
    t0 = time.perf_counter()
    h.pread(4096, offset)
    lat.append(time.perf_counter() - t0)
total = time.perf_counter() - start
h.shutdown()
lat.sort()
p50 = lat[len(lat) // 2] * 1e6
p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6
print(f"{p50:.0f} {p99:.0f} {count / total:.0f}")
