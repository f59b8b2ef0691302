#!/usr/bin/env bash
# What the agent fetches for a boot against what the boot's reads need: the recorded Debian boot
# (bench/bootstorm/traces) replayed over NBD (bench/bootstorm/replay.py) against the agent reading
# bench/trace-image.py's image from nginx, whose access log counts every body byte it sent.
#   needed:  the union of the file ranges fetched with --read-ahead 0 (each read fetches exactly
#            the compressed clusters and metadata it needs): the unique bytes the boot needs
#   fetched: the body bytes nginx sent for the same replay with the agent's default read-ahead
# Prints both for every run, the ratio fetched / needed (target <= 1.10x), the bytes fetched that
# no read needed, and the agent's own count of read-ahead bytes never read
# (branchboot_agent_read_ahead_unused_bytes_total at --metrics).
#
#   bench/agent-read-ahead.sh [RUNS] [AGENT_OPTIONS...]   (default 3 runs; options go to serve)
# Needs nginx, qemu-utils, python3-libnbd, and mvn -B -DskipTests package.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
shift || true
extra=("$@")
agent=${AGENT:-boot/target/branchboot-runtime/bin/branchboot-agent}
trace=bench/bootstorm/traces/debian-bookworm-boot.trace.gz
py=/usr/bin/python3
[[ -x $agent ]] || { echo "agent-read-ahead: $agent is missing: mvn -B -DskipTests package" >&2; exit 1; }
images=bench/work/trace-image
bench_trace_image
bench_workdir readahead
chmod 755 "$work"
mkdir -p "$work/images"
cp "$images/boot.qcow2" "$work/images/boot.qcow2"
chmod 644 "$work/images/boot.qcow2"
port=$(free_port)
bench_nginx "$work/nginx" "$port" "$work/images" '$body_bytes_sent $http_range'
for _ in $(seq 1 50); do curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$port/images/boot.qcow2" && break; sleep 0.1; done

# replay NAME OPTIONS...: one agent, one replay; the lines nginx logged for it go to $work/NAME.log
replay() {
  local name=$1 sock=$work/nbd.sock pid mport lines
  shift
  rm -f "$sock" "$work/ready"
  lines=$(wc -l < "$work/nginx/access.log" 2>/dev/null || echo 0)
  mport=$(free_port)
  "$agent" serve --server "http://127.0.0.1:$port/images" --image boot.qcow2 --listen "unix:$sock" --cow ram \
    --metrics "tcp:127.0.0.1:$mport" --ready-file "$work/ready" "$@" > "$work/$name.agent.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do [[ -f $work/ready ]] && break; sleep 0.02; done
  $py bench/bootstorm/replay.py "$trace" "nbd+unix:///?socket=$sock" > /dev/null
  curl -sf "http://127.0.0.1:$mport/metrics" > "$work/$name.metrics" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  tail -n +"$((lines + 1))" "$work/nginx/access.log" > "$work/$name.log"
}

replay needed --read-ahead 0
stats=$($py - "$work/needed.log" <<'PY'
import sys
ranges = []
for line in open(sys.argv[1]):
    sent, spec = line.split()[0], line.split()[1] if len(line.split()) > 1 else "-"
    if spec.startswith("bytes="):
        a, b = spec[6:].split("-")
        ranges.append((int(a), int(b) + 1))
ranges.sort()
merged = []
for a, b in ranges:
    if merged and a <= merged[-1][1]:
        merged[-1][1] = max(merged[-1][1], b)
    else:
        merged.append([a, b])
with open(sys.argv[1] + ".union", "w") as out:
    for a, b in merged:
        out.write(f"{a} {b}\n")
print(sum(b - a for a, b in merged))
PY
)
echo "needed (union of the fetches with --read-ahead 0): $stats bytes; that run fetched $(awk '{ s += $1 } END { print s }' "$work/needed.log") bytes in all"
echo "run fetched_bytes ratio not_needed_bytes unused_read_ahead_bytes(agent)"
for ((r = 1; r <= runs; r++)); do
  replay "run$r" "${extra[@]}"
  $py - "$work/run$r.log" "$work/needed.log.union" "$stats" "$r" "$work/run$r.metrics" <<'PY'
import bisect, re, sys
union = [tuple(map(int, l.split())) for l in open(sys.argv[2])]
starts = [a for a, _ in union]
def inside(a, b):
    n = 0
    i = max(0, bisect.bisect_right(starts, a) - 1)
    while i < len(union) and union[i][0] < b:
        n += max(0, min(b, union[i][1]) - max(a, union[i][0]))
        i += 1
    return n
sent = waste = 0
for line in open(sys.argv[1]):
    w = line.split()
    sent += int(w[0])
    if len(w) > 1 and w[1].startswith("bytes="):
        a, b = w[1][6:].split("-")
        a, b = int(a), int(b) + 1
        waste += (b - a) - inside(a, b)
unused = "-"
try:
    for line in open(sys.argv[5]):
        if line.startswith("branchboot_agent_read_ahead_unused_bytes_total"):
            unused = line.split()[-1]
except OSError:
    pass
needed = int(sys.argv[3])
print(sys.argv[4], sent, f"{sent / needed:.3f}x", waste, unused)
PY
done
