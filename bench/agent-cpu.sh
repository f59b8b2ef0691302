#!/usr/bin/env bash
# CPU per boot of one PC's NBD server: the agent against qemu-nbd, the same recorded boot.
#
# The image: bench/trace-image.py fills every 64 KiB cluster the recorded Debian boot
# (bench/bootstorm/traces) reads with text-like bytes, and qemu-img makes a zstd QCOW2 of it. Each
# round starts every peer afresh, replays the boot's 2,133 reads over NBD with
# bench/bootstorm/replay.py (one connection, the boot's own overlap), and takes the server's CPU
# (utime + stime of its process, every thread, from its start until the replay ended: every PC
# pays the start) and its peak RSS:
#   qemu-nbd     qemu-nbd -r on the QCOW2 file (the peer, reading a local file)
#   agent-http   the boot runtime's branchboot-agent serve --server (nginx on loopback) --cow ram,
#                as a PC runs it
#   agent-file   the same agent reading the QCOW2 file directly (no HTTP)
# Peers alternate within a round, the order rotating between rounds. Prints every run and the
# medians, and the agent-http/qemu-nbd ratio.
#
#   bench/agent-cpu.sh [ROUNDS]     (default 5)
#   AGENT=path/to/branchboot-agent bench/agent-cpu.sh   (another build's launcher)
# Needs nginx, qemu-utils, python3-libnbd, and mvn -B -DskipTests package.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-5}
agent=${AGENT:-boot/target/branchboot-runtime/bin/branchboot-agent}
trace=bench/bootstorm/traces/debian-bookworm-boot.trace.gz
py=/usr/bin/python3
[[ -x $agent ]] || { echo "agent-cpu: $agent is missing: mvn -B -DskipTests package" >&2; exit 1; }

images=bench/work/trace-image
bench_trace_image
cat "$images/boot.qcow2" > /dev/null

bench_workdir agentcpu
chmod 755 "$work"
mkdir -p "$work/images"
ln "$images/boot.qcow2" "$work/images/boot.qcow2" 2>/dev/null || cp "$images/boot.qcow2" "$work/images/boot.qcow2"
chmod 644 "$work/images/boot.qcow2"
port=$(free_port)
bench_nginx "$work/nginx" "$port" "$work/images" "" "worker_processes 1;"
for _ in $(seq 1 50); do curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$port/images/boot.qcow2" && break; sleep 0.1; done

# run PEER: starts PEER, replays the boot, prints "cpu_seconds peak_rss_mib replay_seconds"
run() {
  local peer=$1 sock=$work/nbd.sock pid out
  rm -f "$sock" "$work/ready"
  case $peer in
    qemu-nbd) qemu-nbd -r -t -f qcow2 -k "$sock" --cache=none --aio=threads "$work/images/boot.qcow2" 2> "$work/peer.log" &
      pid=$! ;;
    agent-http) "$agent" serve --server "http://127.0.0.1:$port/images" --image boot.qcow2 --listen "unix:$sock" \
        --cow ram --ready-file "$work/ready" > "$work/peer.log" 2>&1 &
      pid=$! ;;
    agent-file) "$agent" serve --image "$work/images/boot.qcow2" --listen "unix:$sock" --cow ram \
        --ready-file "$work/ready" > "$work/peer.log" 2>&1 &
      pid=$! ;;
  esac
  for _ in $(seq 1 600); do [[ -S $sock ]] && break; sleep 0.01; done
  [[ -S $sock ]] || { echo "agent-cpu: $peer did not listen; its log:" >&2; cat "$work/peer.log" >&2; exit 1; }
  out=$($py bench/bootstorm/replay.py "$trace" "nbd+unix:///?socket=$sock")
  local stats
  stats=$($py bench/cpu-per-boot.py --hwm "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$stats $($py -c 'import json,sys; print(round(json.load(sys.stdin)["seconds"], 2))' <<<"$out")"
}

peers=(qemu-nbd agent-http agent-file)
declare -A cpu rss secs
echo "round peer cpu_s peak_rss_mib replay_s"
for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < ${#peers[@]}; k++)); do
    peer=${peers[(r + k) % ${#peers[@]}]}
    read -r c m s < <(run "$peer")
    echo "$((r + 1)) $peer $c $m $s"
    cpu[$peer]+="$c "; rss[$peer]+="$m "; secs[$peer]+="$s "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "peer median_cpu_s median_peak_rss_mib median_replay_s"
for peer in "${peers[@]}"; do
  echo "$peer $(median <<<"${cpu[$peer]}") $(median <<<"${rss[$peer]}") $(median <<<"${secs[$peer]}")"
done
q=$(median <<<"${cpu[qemu-nbd]}")
a=$(median <<<"${cpu[agent-http]}")
echo "agent-http / qemu-nbd CPU: $(awk -v a="$a" -v q="$q" 'BEGIN { printf "%.2fx", a / q }') (target <= 0.5x)"
