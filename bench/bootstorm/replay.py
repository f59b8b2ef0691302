#!/usr/bin/python3
"""Replays the reads of a recorded boot (serve --trace) against a disk and times them.

Usage: replay.py TRACE TARGET [--start-at EPOCH] [--max-in-flight N] [--out FILE]

TARGET is an NBD URI (nbd+unix:///?socket=PATH, nbd://HOST:PORT: read with libnbd, one
connection, simple replies, as Linux's nbd driver reads) or a file path (read with pread from
threads: a dnbd3-fuse mount). The reads are issued in the order the boot started them, and a read
waits for every read that had completed before it started in the boot (so a read that followed
another waits for it here too; reads that overlapped in the boot overlap here), with no think
time: the replay is as fast as the disk and the network let the boot's dependencies go.
--start-at waits until that wall-clock time, so that many replayers start together.

Prints one JSON object: reads, bytes, seconds (first read issued to last read done), p50/p99
read latency in ms, and started (epoch seconds); --out FILE gets the same with every read's
latency added.
Needs Debian's python3-libnbd for NBD targets (/usr/bin/python3).
"""
import argparse
import gzip
import json
import os
import threading
import time


def load_reads(path):
    """(start_us, duration_us, offset, length) of every R line, in start order."""
    opener = gzip.open if path.endswith(".gz") else open
    reads = []
    with opener(path, "rt") as f:
        for line in f:
            if line.startswith("R "):
                w = line.split()
                reads.append((int(w[1]), int(w[2]), int(w[3]), int(w[4])))
    reads.sort()
    return reads


def dependencies(reads):
    """For read i, the reads (by index) that must be done before it is issued: those that ended
    before it started, as a frontier in end order (each read waited for once)."""
    by_end = sorted(range(len(reads)), key=lambda i: reads[i][0] + reads[i][1])
    waits = []
    k = 0
    for start, _, _, _ in reads:
        before = []
        while k < len(by_end) and reads[by_end[k]][0] + reads[by_end[k]][1] <= start:
            before.append(by_end[k])
            k += 1
        waits.append(before)
    return waits


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def replay_nbd(uri, reads, waits, max_in_flight):
    import nbd
    h = nbd.NBD()
    h.set_request_structured_replies(False)
    h.connect_uri(uri)
    done = [False] * len(reads)
    issued_at = [0.0] * len(reads)
    latency = [0.0] * len(reads)
    errors = []

    def completion(i):
        def cb(error):
            if error.value != 0:
                errors.append((i, error.value))
            latency[i] = time.monotonic() - issued_at[i]
            done[i] = True
            return 1
        return cb

    def wait_for(i):
        while not done[i]:
            h.poll(-1)

    start = time.monotonic()
    for i, (_, _, offset, length) in enumerate(reads):
        for j in waits[i]:
            wait_for(j)
        while h.aio_in_flight() >= max_in_flight:
            h.poll(-1)
        issued_at[i] = time.monotonic()
        h.aio_pread(nbd.Buffer(length), offset, completion=completion(i))
    while h.aio_in_flight() > 0:
        h.poll(-1)
    seconds = time.monotonic() - start
    h.shutdown()
    if errors:
        raise SystemExit(f"{len(errors)} reads failed, first: read {errors[0][0]} errno {errors[0][1]}")
    return seconds, latency


def replay_file(path, reads, waits, max_in_flight):
    fd = os.open(path, os.O_RDONLY)
    done = [threading.Event() for _ in reads]
    latency = [0.0] * len(reads)
    slots = threading.Semaphore(max_in_flight)
    errors = []

    def read(i, offset, length):
        t0 = time.monotonic()
        try:
            got = 0
            while got < length:
                n = len(os.pread(fd, length - got, offset + got))
                if n == 0:
                    raise OSError(f"end of file at {offset + got}")
                got += n
        except OSError as e:
            errors.append((i, str(e)))
        latency[i] = time.monotonic() - t0
        done[i].set()
        slots.release()

    start = time.monotonic()
    threads = []
    for i, (_, _, offset, length) in enumerate(reads):
        for j in waits[i]:
            done[j].wait()
        slots.acquire()
        t = threading.Thread(target=read, args=(i, offset, length), daemon=True)
        t.start()
        threads.append(t)
    for e in done:
        e.wait()
    seconds = time.monotonic() - start
    os.close(fd)
    if errors:
        raise SystemExit(f"{len(errors)} reads failed, first: read {errors[0][0]}: {errors[0][1]}")
    return seconds, latency


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace")
    parser.add_argument("target")
    parser.add_argument("--start-at", type=float, default=0)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--out")
    args = parser.parse_args()
    reads = load_reads(args.trace)
    waits = dependencies(reads)
    if args.start_at:
        delay = args.start_at - time.time()
        if delay > 0:
            time.sleep(delay)
    if "://" in args.target:
        seconds, latency = replay_nbd(args.target, reads, waits, args.max_in_flight)
    else:
        seconds, latency = replay_file(args.target, reads, waits, args.max_in_flight)
    ordered = sorted(latency)
    result = {
        "reads": len(reads),
        "bytes": sum(r[3] for r in reads),
        "seconds": round(seconds, 3),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 3),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 3),
        "started": round(time.time() - seconds, 3),
    }
    text = json.dumps(result)
    if args.out:
        # The file also has every read's latency, for percentiles over all clients of a run.
        with open(args.out, "w") as f:
            f.write(json.dumps(dict(result, latencies_ms=[round(x * 1000, 3) for x in latency])) + "\n")
    print(text)


if __name__ == "__main__":
    main()
