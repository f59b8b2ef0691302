#!/usr/bin/env bash
# Quick start: builds branchboot, makes a small compressed QCOW2 image of an ext4 filesystem with
# qemu-img, reads it back with the agent (`info`, `cat`), serves it from an origin server over HTTP,
# puts a branch cache in front of the origin and has two "PCs" (agents serving the image over NBD)
# read it through the branch, printing what crossed the uplink against what the branch served;
# the bytes are checked against qemu-img each time.
# Everything it makes goes to ./quickstart (or the folder given as the first argument); the server
# and the agent listen on 127.0.0.1 only and are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-quickstart}

bash scripts/install-deps.sh
echo "==> building (mvn package)"
mvn -q -B package -DskipTests
agent=(java -jar client-agent/target/branchboot-agent.jar)

mkdir -p "$work/root/etc" "$work/root/home/lab"
echo "branchboot sample image, made $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$work/root/etc/motd"
seq 1 200000 > "$work/root/home/lab/numbers.txt"
head -c 8M /dev/urandom > "$work/root/home/lab/random.bin"
rm -f "$work/sample.raw"
echo "==> making a 256 MiB ext4 disk and compressing it to QCOW2 (zstd)"
mkfs.ext4 -q -F -b 4096 -d "$work/root" "$work/sample.raw" 256M
mkdir -p "$work/images"
rm -f "$work/images/sample.qcow2"
qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd "$work/sample.raw" "$work/images/sample.qcow2"
ln -sf images/sample.qcow2 "$work/sample.qcow2"

echo "==> branchboot-agent info $work/sample.qcow2"
"${agent[@]}" info "$work/sample.qcow2"
echo "==> branchboot-agent cat $work/sample.qcow2 -o $work/sample.out.raw --progress"
"${agent[@]}" cat "$work/sample.qcow2" -o "$work/sample.out.raw" --progress
qemu-img convert -O raw "$work/sample.qcow2" "$work/reference.raw"
cmp "$work/sample.out.raw" "$work/reference.raw"
echo "==> the agent's bytes equal qemu-img's; the filesystem inside:"
debugfs -R "ls -l /home/lab" "$work/sample.out.raw" 2>/dev/null
debugfs -R "cat /etc/motd" "$work/sample.out.raw" 2>/dev/null

# Waits until the server at $1 is ready; stops the quick start with the end of its log $2 if it does not get there.
wait_ready() {
  for _ in $(seq 1 240); do
    curl -fsS "$1/actuator/health/readiness" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "quickstart: the server at $1 did not become ready; the end of $2:" >&2
  tail -20 "$2" >&2
  exit 1
}

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
port=${BRANCHBOOT_QUICKSTART_PORT:-18080}
echo "==> origin server on http://127.0.0.1:$port serving $work/images"
java -jar server/target/branchboot-server.jar --branchboot.images-dir="$work/images" \
  --server.address=127.0.0.1 --server.port="$port" > "$work/server.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$port" "$work/server.log"
curl -fsS "http://127.0.0.1:$port/images"; echo
curl -fsS -r 0-3 "http://127.0.0.1:$port/images/sample.qcow2" | od -c | head -1
qemu-img convert -m 1 -f qcow2 -O raw "http://127.0.0.1:$port/images/sample.qcow2" "$work/over-http.raw"
cmp "$work/over-http.raw" "$work/reference.raw"
echo "==> qemu-img read the image through the server: same bytes"

branch_port=${BRANCHBOOT_QUICKSTART_BRANCH_PORT:-$((port + 1))}
echo "==> branch cache on http://127.0.0.1:$branch_port in front of the origin (cache in $work/cache)"
rm -rf "$work/cache"
java -jar server/target/branchboot-server.jar --branchboot.upstreams="http://127.0.0.1:$port/images" \
  --branchboot.cache.dir="$work/cache" --spring.application.name=quickstart-branch \
  --server.address=127.0.0.1 --server.port="$branch_port" > "$work/branch.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$branch_port" "$work/branch.log"

# Sum of a series of the branch's /actuator/prometheus over its labels, or those containing $2.
branch_metric() {
  curl -fsS "http://127.0.0.1:$branch_port/actuator/prometheus" | awk -v name="$1" -v filter="${2:-}" '
    (substr($1, 1, length(name) + 1) == name "{" || $1 == name) && index($1, filter) { sum += $NF }
    END { printf "%d", sum }'
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# A PC booting: an agent serving the image through the branch over NBD, read whole by nbdcopy.
read_through_branch() {
  local pc=$1
  rm -f "$work/nbd-$pc.sock" "$work/nbd-$pc.ready"
  java -jar client-agent/target/branchboot-agent.jar serve --server "http://127.0.0.1:$branch_port/images" \
    --image sample.qcow2 --cow ram --listen "unix:$work/nbd-$pc.sock" --ready-file "$work/nbd-$pc.ready" \
    > "$work/agent-$pc.log" 2>&1 &
  local agent_pid=$!
  pids+=("$agent_pid")
  for _ in $(seq 1 240); do [[ -f $work/nbd-$pc.ready ]] && break; sleep 0.25; done
  [[ -f $work/nbd-$pc.ready ]] || { echo "quickstart: the agent did not start; $work/agent-$pc.log:" >&2; tail -20 "$work/agent-$pc.log" >&2; exit 1; }
  nbdcopy "nbd+unix:///?socket=$work/nbd-$pc.sock" "$work/over-branch-$pc.raw"
  cmp "$work/over-branch-$pc.raw" "$work/reference.raw"
  kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true
  # A response leaves before the bytes it fetched are stored: give the branch a moment to count them.
  sleep 1
  echo "    $pc read the whole disk through the branch: same bytes as qemu-img's"
  echo "    the branch served $(mib "$(branch_metric branchboot_cache_served_bytes_total)") to PCs so far" \
       "($(mib "$(branch_metric branchboot_cache_served_bytes_total 'result="hit"')") from its cache)," \
       "and pulled $(mib "$(branch_metric branchboot_upstream_bytes_total)") over its uplink"
}

echo "==> branchboot-agent serve on a first PC, reading the image through the branch (NBD, RAM overlay)"
read_through_branch pc1
echo "==> the same on a second PC: the branch serves it from its cache, the uplink carries nothing more"
read_through_branch pc2
echo "==> what the branch cached:"
curl -fsS "http://127.0.0.1:$branch_port/images" | tr ',' '\n' | grep -E '"(name|size|cachedBytes|replication)"' || true
echo "==> logs: $work/server.log (origin), $work/branch.log, $work/agent-pc1.log, $work/agent-pc2.log"
