#!/usr/bin/env bash
# Memory of a long-running agent: serves a 256 MiB zlib image from the branchboot origin server
# with a RAM overlay, while a libnbd client mixes random reads, sequential sweeps and writes for
# MINUTES (default 20). Every 30 s it prints the agent's resident memory (VmRSS), its heap in use
# (jcmd GC.heap_info), and what it fetched; at the end the growth of RSS over the second half of the run.
# The agent runs with the flags of the initramfs launcher (boot/runtime/branchboot-agent) and a
# fixed heap (HEAP, default 256m), so "bounded" means: RSS levels off well under heap + caches.
#
#   bench/agent-soak.sh [MINUTES]
#   AGENT_OPTS="--cache-size 8M" bench/agent-soak.sh 2     (more options for the agent's serve)
#
# Needs qemu-utils, python3-libnbd (Debian's /usr/bin/python3), curl.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
minutes=${1:-20}
heap=${HEAP:-256m}
agent_jar=client-agent/target/branchboot-agent.jar
server_jar=server/target/branchboot-server.jar
if [[ ! -f $agent_jar || ! -f $server_jar || ! -d testkit/target/classes ]]; then
  mvn -q -B -o package -DskipTests
fi
images=bench/work/http
bench_zlib_image "$images"

bench_workdir soak

server_port=$(free_port)
java -jar "$server_jar" --branchboot.images-dir="$(realpath "$images")" --server.address=127.0.0.1 \
  --server.port="$server_port" > "$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 240); do
  curl -sf -o /dev/null "http://127.0.0.1:$server_port/actuator/health/readiness" && break
  sleep 0.5
done

metrics_port=$(free_port)
# shellcheck disable=SC2086 # AGENT_OPTS is a list of words
java -XX:+UseSerialGC "-Xmx$heap" -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=32m -Xss512k -XX:-UsePerfData \
  -Djava.net.preferIPv4Stack=true -jar "$agent_jar" serve --server "http://127.0.0.1:$server_port/images" \
  --image zlib.qcow2 --listen "unix:$work/nbd.sock" --cow ram:128M --ready-file "$work/ready" \
  --metrics "tcp:127.0.0.1:$metrics_port" ${AGENT_OPTS:-} > "$work/agent.log" 2>&1 &
agent=$!
pids+=($agent)
for _ in $(seq 1 200); do [[ -f $work/ready ]] && break; sleep 0.1; done
[[ -f $work/ready ]] || { cat "$work/agent.log"; exit 1; }

/usr/bin/python3 - "$work/nbd.sock" "$minutes" > "$work/load.log" 2>&1 <<'PY' &
import nbd, random, sys, time
sock, minutes = sys.argv[1], float(sys.argv[2])
h = nbd.NBD()
h.connect_unix(sock)
size = h.get_size()
rng = random.Random(42)
end = time.time() + minutes * 60
sweep = 0
ops = 0
while time.time() < end:
    kind = rng.random()
    if kind < 0.7:
        length = rng.choice([4096, 16384, 65536])
        h.pread(length, rng.randrange(0, size - length) // 4096 * 4096)
    elif kind < 0.9:
        h.pread(1 << 20, sweep)
        sweep = (sweep + (1 << 20)) % size
    else:
        length = rng.choice([4096, 65536])
        offset = rng.randrange(0, (48 << 20) - length) // 4096 * 4096
        h.pwrite(rng.randbytes(length), offset)
    ops += 1
print("operations", ops)
PY
load=$!
pids+=($load)

metric() { { curl -sf -m 10 "http://127.0.0.1:$metrics_port/metrics" || true; } | awk -v m="$1" '$1 == m {print $2}'; }
trap 'echo "failed at line $LINENO; agent log:"; tail -20 "$work/agent.log"' ERR
echo "| minute | VmRSS MiB | heap in use MiB | fetched MiB |"
echo "|---|---|---|---|"
start=$(date +%s)
rss_half=""
while kill -0 "$load" 2>/dev/null; do
  sleep 30
  kill -0 "$agent" || { echo "agent died"; cat "$work/agent.log"; exit 1; }
  elapsed=$(( $(date +%s) - start ))
  rss=$(awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$agent/status")
  heap_used=$(jcmd "$agent" GC.heap_info 2>/dev/null | awk '/def new generation|tenured generation/ {gsub("K","",$0); for (i=1;i<=NF;i++) if ($i=="used") u+=$(i+1)} END {printf "%.0f", u/1024}' || echo "?")
  fetched=$(metric branchboot_agent_bytes_fetched_total)
  printf '| %.1f | %s | %s | %.0f |\n' "$(echo "$elapsed / 60" | bc -l)" "$rss" "$heap_used" "$(echo "${fetched:-0} / 1048576" | bc -l)"
  if [[ -z $rss_half && $elapsed -ge $(( minutes * 30 )) ]]; then rss_half=$rss; fi
  rss_last=$rss
done
wait "$load"
cat "$work/load.log"
echo "VmRSS at half time ${rss_half:-?} MiB, at the end ${rss_last:-?} MiB (heap limit $heap)"
kill -USR1 "$agent"
sleep 1
grep -E "image:|HTTP:" "$work/agent.log" | tail -2 || true
