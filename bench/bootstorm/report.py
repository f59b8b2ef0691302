#!/usr/bin/python3
"""Figures of the boot storm (bench/bootstorm/run.sh).

  report.py working-set TRACE FETCH_TRACE   JSON: the boot's working set, compressed (the unique
                                            image-file bytes the agent fetched, from FETCH_TRACE
                                            recorded on this image) and raw (the unique disk bytes read)
  report.py table WORKING_SET RESULTS       a Markdown table of every scenario with its physical bound
  report.py plot WORKING_SET RESULTS PNG    time until the last PC finished against N, per setup

The physical bound of a scenario is the time the bytes need on the links, nothing else: with a
cache at the branch, one copy of the working set over the uplink plus one over each PC's port
(the PCs' ports work in parallel, the LAN behind the branch is unshaped); without one, N copies
over the uplink. Raw setups (raw, dnbd3) move the uncompressed working set.
"""
import gzip
import json
import sys

PORT_BITS = 1e9
CACHED_AT_BRANCH = {"branchboot", "branchboot-http", "nginx-slice", "raw", "dnbd3"}
RAW = {"raw", "dnbd3"}
LABELS = {
    "branchboot": "branchboot (branch, agents)",
    "branchboot-http": "branchboot (branch, HTTP replayers)",
    "no-branch": "agents straight from the origin",
    "no-branch-http": "HTTP replayers straight from the origin",
    "qemu-nbd": "qemu-nbd + http driver, straight",
    "nginx-slice": "qemu-nbd via nginx slice cache",
    "raw": "branchboot, raw image",
    "dnbd3": "dnbd3 proxy + dnbd3-fuse (raw)",
}


def union(ranges):
    total = 0
    end = -1
    for start, stop in sorted(ranges):
        if start >= end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def open_text(path):
    return gzip.open(path, "rt") if path.endswith(".gz") else open(path)


def working_set(trace, fetch_trace):
    raw = []
    with open_text(trace) as f:
        for line in f:
            if line.startswith("R "):
                w = line.split()
                raw.append((int(w[3]), int(w[3]) + int(w[4])))
    fetched = []
    with open_text(fetch_trace) as f:
        for line in f:
            w = line.split()
            if not w or w[0] not in ("R", "F"):
                continue
            for item in (w[5:] if w[0] == "R" else w[3:]):
                index, rest = item.split(":")
                if index == "0":
                    offset, length = rest.split("+")
                    fetched.append((int(offset), int(offset) + int(length)))
    return {"compressed_bytes": union(fetched), "raw_bytes": union(raw), "reads": len(raw)}


def rate_bits(rate):
    units = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
    for suffix, factor in units.items():
        if rate.endswith(suffix):
            return float(rate[: -len(suffix)]) * factor
    raise ValueError(rate)


def bound_seconds(ws, result):
    size = ws["raw_bytes"] if result["setup"] in RAW else ws["compressed_bytes"]
    uplink = rate_bits(result["rate"]) / 8
    if result["setup"] in CACHED_AT_BRANCH:
        if result["phase"] == "warm":
            return size / (PORT_BITS / 8)
        return size / uplink + size / (PORT_BITS / 8)
    return result["n"] * size / uplink + size / (PORT_BITS / 8)


def load(ws_path, results_path):
    ws = json.load(open(ws_path))
    results = [json.loads(line) for line in open(results_path) if line.strip()]
    return ws, results


def table(ws, results):
    print(f"Working set of the boot: {ws['compressed_bytes'] / 1e6:.1f} MB compressed (QCOW2), "
          f"{ws['raw_bytes'] / 1e6:.1f} MB raw, {ws['reads']} reads.\n")
    print("| setup | N | uplink | RTT | branch | last PC done s | bound s | x bound | p50 ms | p99 ms "
          "| uplink MB (wire) | origin sent MB | x working set | LAN MB | branch CPU s | PCs' CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "last_done_s" not in r:
            print(f"| {LABELS.get(r['setup'], r['setup'])} | {r['n']} | {r['rate']} | {r['delay_ms']} ms | | every replay "
                  f"failed or hung (4 min) | | | | | | | | | | |")
            continue
        bound = bound_seconds(ws, r)
        size = ws["raw_bytes"] if r["setup"] in RAW else ws["compressed_bytes"]
        body = r.get("origin_body_bytes") or 0
        sent = body if body else r["uplink_bytes"]
        branch = r["phase"] if r["setup"] in CACHED_AT_BRANCH else "none"
        label = LABELS.get(r['setup'], r['setup']) + (f" ({r['failed']} of {r['n']} hung, left out)" if r.get("failed") else "")
        print(f"| {label} | {r['n']} | {r['rate']} | {r['delay_ms']} ms | {branch} "
              f"| {r['last_done_s']:.1f} | {bound:.1f} | {r['last_done_s'] / bound:.2f} | {r['p50_ms']:.2f} | {r['p99_ms']:.1f} "
              f"| {r['uplink_bytes'] / 1e6:.1f} | {body / 1e6:.1f} | {sent / size:.3f} | {r['lan_bytes'] / 1e6:.1f} "
              f"| {r.get('branch_cpu_s', 0):.1f} | {r.get('pcs_cpu_s', 0):.1f} |")


def plot(ws, results, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    series = {}
    for r in results:
        if r["rate"] != "100mbit" or r["delay_ms"] != 0 or r["phase"] != "cold" or "last_done_s" not in r:
            continue
        series.setdefault(r["setup"], []).append((r["n"], r["last_done_s"]))
    for setup, points in sorted(series.items()):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=LABELS.get(setup, setup))
    ns = sorted({r["n"] for r in results if r["rate"] == "100mbit"})
    bound = [bound_seconds(ws, {"setup": "branchboot", "rate": "100mbit", "n": n, "phase": "cold"}) for n in ns]
    ax.plot(ns, bound, linestyle="--", color="grey", label="physical bound with a branch cache")
    ax.set_xlabel("PCs booting at once (N)")
    ax.set_ylabel("time until the last PC finished (s)")
    ax.set_yscale("log")
    ax.set_title("Boot storm: one Debian boot per PC, cold branch, 100 Mbit/s uplink")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png)


def main():
    command = sys.argv[1]
    if command == "working-set":
        print(json.dumps(working_set(sys.argv[2], sys.argv[3])))
    elif command == "table":
        table(*load(sys.argv[2], sys.argv[3]))
    elif command == "plot":
        ws, results = load(sys.argv[2], sys.argv[3])
        plot(ws, results, sys.argv[4])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
