#!/usr/bin/python3
"""Replays the image-file fetches an agent made during a recorded boot, as plain HTTP range GETs:
a light stand-in for an agent when a boot storm has more PCs than real agents fit on one machine.

Usage: http-replay.py TRACE URL [--start-at EPOCH] [--connections N] [--out FILE]

Each read of the trace (R line) with its fetches, and each background fetch (F line), is one unit;
units are issued in the order the boot started them, and a unit waits for every unit that had
completed before it started in the boot (as replay.py does for reads). A unit's fetches are GETs
with Range and If-Match on kept-alive connections (--connections of them, default 4: the agent's
read-ahead threads); the body is read and dropped. The time and the bytes are the network's and
the server's, not the agent's decompression: that is what makes it light.

Prints one JSON object like replay.py's (reads = units, bytes = body bytes).
"""
import argparse
import gzip
import http.client
import json
import queue
import threading
import time
from urllib.parse import urlsplit


def load_units(path):
    """(start_us, duration_us, [(offset, length)...]) for each R line with fetches and each F line, in start order."""
    opener = gzip.open if path.endswith(".gz") else open
    units = []
    with opener(path, "rt") as f:
        for line in f:
            w = line.split()
            if not w or w[0] not in ("R", "F"):
                continue
            ranges = []
            for item in w[5:] if w[0] == "R" else w[3:]:
                file_index, rest = item.split(":")
                if file_index != "0":
                    continue
                offset, length = rest.split("+")
                ranges.append((int(offset), int(length)))
            if ranges:
                units.append((int(w[1]), int(w[2]), ranges))
    units.sort(key=lambda u: u[0])
    return units


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace")
    parser.add_argument("url")
    parser.add_argument("--start-at", type=float, default=0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--out")
    args = parser.parse_args()
    units = load_units(args.trace)
    by_end = sorted(range(len(units)), key=lambda i: units[i][0] + units[i][1])
    target = urlsplit(args.url)
    head = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=120)
    head.request("HEAD", target.path)
    response = head.getresponse()
    response.read()
    etag = response.getheader("ETag")
    head.close()

    done = [threading.Event() for _ in units]
    latency = [0.0] * len(units)
    received = [0]
    work = queue.Queue()
    failures = []

    def worker():
        connection = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=120)
        while True:
            item = work.get()
            if item is None:
                return
            i = item
            t0 = time.monotonic()
            try:
                for offset, length in units[i][2]:
                    headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
                    if etag:
                        headers["If-Match"] = etag
                    connection.request("GET", target.path, headers=headers)
                    r = connection.getresponse()
                    body = r.read()
                    if r.status != 206 or len(body) != length:
                        raise OSError(f"HTTP {r.status}, {len(body)} bytes for {offset}+{length}")
                    received[0] += length
            except (OSError, http.client.HTTPException) as e:
                failures.append(str(e))
                connection.close()
                connection = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=120)
            latency[i] = time.monotonic() - t0
            done[i].set()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.connections)]
    for t in threads:
        t.start()
    if args.start_at:
        delay = args.start_at - time.time()
        if delay > 0:
            time.sleep(delay)
    start = time.monotonic()
    k = 0
    for i, (unit_start, _, _) in enumerate(units):
        while k < len(by_end) and units[by_end[k]][0] + units[by_end[k]][1] <= unit_start:
            done[by_end[k]].wait()
            k += 1
        work.put(i)
    for e in done:
        e.wait()
    seconds = time.monotonic() - start
    for _ in threads:
        work.put(None)
    if failures:
        raise SystemExit(f"{len(failures)} fetches failed, first: {failures[0]}")
    ordered = sorted(latency)
    result = {
        "reads": len(units),
        "bytes": received[0],
        "seconds": round(seconds, 3),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        "started": round(time.time() - seconds, 3),
    }
    if args.out:
        with open(args.out, "w") as f:
            f.write(json.dumps(dict(result, latencies_ms=[round(x * 1000, 3) for x in latency])) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
