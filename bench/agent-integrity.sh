#!/usr/bin/env bash
# What checking every byte against a signed manifest costs the agent, measured side by side in one
# run: the agent as shipped (the boot runtime's launcher) reading the benchmarks' 256 MiB zlib image
# from nginx, with and without --trust-key, runs alternating, each against a fresh agent:
#   - time to ready: from the process's start to its ready file (the open, and with a key the
#     manifest's head);
#   - a full sequential read: nbdcopy -C 1 -R 2 URI null: (MiB/s of the virtual disk);
#   - RANDOM_READS (default 20,000) seeded random 4 KiB reads at queue depth 1 (bench/nbd-random-reads.py): IOPS and the
#     bytes fetched per read (nginx's access log, the manifest's included);
#   - the manifest bytes fetched at open against the image file's size.
# Usage: bench/agent-integrity.sh [ROUNDS]   (default 3; needs nginx, openssl, libnbd-bin,
# python3-libnbd and a built agent and boot runtime)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-3}
# Random reads per round: 20,000 (about 5 s) rather than a fraction of a second, so the first uses
# (the manifest's pages, the JIT's first compiles of the checking path) do not decide the figure.
random_reads=${RANDOM_READS:-20000}
launcher=boot/target/branchboot-runtime/bin/branchboot-agent
jar=client-agent/target/branchboot-agent.jar
[[ -x $launcher && -f $jar && -d testkit/target/classes ]] || mvn -q -B -o package -DskipTests -pl testkit,qcow2,integrity,client-agent,boot
images=bench/work/http
bench_zlib_image "$images"
file_size=$(stat -c %s "$images/zlib.qcow2")

bench_workdir integrity
chmod 755 "$work"
mkdir -p "$work/images"
cp "$images/zlib.qcow2" "$work/images/zlib.qcow2"
openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem"
java -jar "$jar" manifest "$work/images/zlib.qcow2" --sign-key "$work/key.pem" >&2
cat "$work/images/"* > /dev/null
port=$(free_port)
# shellcheck disable=SC2016 # nginx's variables, not the shell's
bench_nginx "$work/nginx" "$port" "$work/images" '$uri $status $body_bytes_sent'
for _ in $(seq 1 100); do curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$port/images/zlib.qcow2" && break; sleep 0.1; done

sent() { awk -v u="$1" '$1 ~ u { s += $3 } END { printf "%.0f\n", s }' "$work/nginx/access.log"; }
now() { date +%s%N; }

# measure LABEL [agent options]: one fresh agent per workload; prints "ready_ms MiB/s iops KiB/read manifest_bytes"
measure() {
  local label=$1 t0 ready_ms m0 seq_ms b0 rnd p50 p99 iops rnd_bytes manifest_bytes agent
  shift
  m0=$(sent 'manifest$')
  rm -f "$work/ready" "$work/nbd.sock"
  t0=$(now)
  "$launcher" serve --server "http://127.0.0.1:$port/images" --image zlib.qcow2 --listen "unix:$work/nbd.sock" --cow none \
    --ready-file "$work/ready" "$@" > "$work/agent-$label.log" 2>&1 &
  agent=$!
  until [[ -f $work/ready ]]; do kill -0 "$agent" || { cat "$work/agent-$label.log" >&2; exit 1; }; sleep 0.005; done
  ready_ms=$((($(now) - t0) / 1000000))
  manifest_bytes=$(($(sent 'manifest$') - m0))
  t0=$(now)
  nbdcopy -C 1 -R 2 "nbd+unix:///?socket=$work/nbd.sock" null:
  seq_ms=$((($(now) - t0) / 1000000))
  kill "$agent"; wait "$agent" 2>/dev/null || true
  rm -f "$work/ready" "$work/nbd.sock"
  "$launcher" serve --server "http://127.0.0.1:$port/images" --image zlib.qcow2 --listen "unix:$work/nbd.sock" --cow none \
    --ready-file "$work/ready" "$@" > "$work/agent-$label.log" 2>&1 &
  agent=$!
  until [[ -f $work/ready ]]; do sleep 0.005; done
  b0=$(sent 'zlib')
  rnd=$(/usr/bin/python3 bench/nbd-random-reads.py "nbd+unix:///?socket=$work/nbd.sock" "$random_reads" 42)
  rnd_bytes=$(($(sent 'zlib') - b0))
  kill "$agent"; wait "$agent" 2>/dev/null || true
  read -r p50 p99 iops <<< "$rnd"
  awk -v r="$ready_ms" -v ms="$seq_ms" -v iops="$iops" -v b="$rnd_bytes" -v m="$manifest_bytes" -v n="$random_reads" \
    'BEGIN { printf "%d %.0f %d %.1f %d\n", r, 256 / (ms / 1000), iops, b / n / 1024, m }'
}

declare -A results
for round in $(seq 1 "$rounds"); do
  for label in plain signed; do
    if [[ $label == signed ]]; then r=$(measure "$label" --trust-key "$work/pub.pem"); else r=$(measure "$label"); fi
    echo "round $round $label: ready_ms MiB/s iops KiB/read manifest_bytes = $r" >&2
    results[$label]+="$r;"
  done
done

python3 - "${results[plain]}" "${results[signed]}" "$file_size" <<'PY'
import statistics, sys
def med(s, i): return statistics.median(float(r.split()[i]) for r in s.strip(";").split(";"))
plain, signed, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("| | ready ms | sequential MiB/s | random IOPS | KiB fetched per random 4 KiB read | manifest bytes at open |")
print("|---|---|---|---|---|---|")
for name, r in (("without a key", plain), ("with --trust-key", signed)):
    print(f"| {name} | {med(r,0):.0f} | {med(r,1):.0f} | {med(r,2):.0f} | {med(r,3):.1f} | {med(r,4):.0f} |")
print()
print(f"sequential {med(signed,1) / med(plain,1):.2f}x (target >= 0.9x), random IOPS {med(signed,2) / med(plain,2):.2f}x "
      f"(>= 0.9x), {med(signed,3):.1f} KiB per read (<= 25), ready +{med(signed,0) - med(plain,0):.0f} ms (<= 200), "
      f"manifest at open {100 * med(signed,4) / size:.3f}% of the image (<= 1%)")
PY
