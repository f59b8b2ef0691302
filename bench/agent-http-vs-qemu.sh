#!/usr/bin/env bash
# Benchmark: reading a QCOW2 image from an HTTP server (nginx, loopback) and exporting it over NBD:
#   (a) branchboot-agent serve --server URL --image NAME, as shipped: the boot runtime's launcher
#       (boot/target/branchboot-runtime/bin/branchboot-agent: jlink'd JVM, its flags, AppCDS, the
#       libdeflate decoder), in a fresh process
#   (a') the same agent jar under a plain `java -jar` with the JVM's default options (AGENT_JAVA_OPTS
#       adds some), for comparison
#   (b) qemu-nbd with qemu's curl (http) block driver
#   (c) qemu-nbd over nbdkit's curl plugin
# Two workloads per peer, same nginx and image (256 MiB virtual, zlib-compressed mixed content),
# each against a freshly started export, so neither inherits the other's caches:
#   - a full sequential read: nbdcopy -C 1 -R 2 URI null:  (the same flags for every peer: one
#     connection with 2 requests of 256 KiB in flight. Every export advertises multi-conn, so plain
#     nbdcopy -R 2 opens 4 connections; qemu's curl driver then hung in 2 of 3 runs here, and with
#     deeper queues too. Every nbdcopy runs under a 60 s timeout, a hang prints "hung")
#   - 2,000 seeded random 4 KiB reads at queue depth 1 (bench/nbd-random-reads.py): p50/p99, IOPS,
#     all cold: nothing of the image is cached when they start
# The bytes nginx sent in each phase come from its access log ($body_bytes_sent).
#
#   bench/agent-http-vs-qemu.sh [RUNS]     (RUNS tables, one after the other; default 1)
#   AGENT_JAR=other.jar AGENT_JAVA_OPTS="-XX:..." bench/agent-http-vs-qemu.sh   (row a': another jar, JVM options)
#   AGENT_TUNED_OPTS="-XX:..." bench/agent-http-vs-qemu.sh   (adds a row: `java -jar` with these JVM options)
#   BASELINE_LAUNCHER=other/bin/branchboot-agent bench/agent-http-vs-qemu.sh   (adds a row: another build's runtime)
#
# Needs nginx, qemu-utils, qemu-block-extra, nbdkit (curl plugin), libnbd-bin, python3-libnbd.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
jar=${AGENT_JAR:-client-agent/target/branchboot-agent.jar}
launcher=boot/target/branchboot-runtime/bin/branchboot-agent
if [[ ! -f $jar || ! -x $launcher || ! -d testkit/target/classes ]]; then
  mvn -q -B -o package -DskipTests -pl testkit,qcow2,client-agent,boot
fi
images=bench/work/http
bench_zlib_image "$images"
file_size=$(stat -c %s "$images/zlib.qcow2")
cat "$images/zlib.qcow2" > /dev/null

bench_workdir httpbench
chmod 755 "$work"

port=$(free_port)
# shellcheck disable=SC2016 # nginx's variables, not the shell's
bench_nginx "$work/nginx" "$port" "$images" '$status $body_bytes_sent'
url="http://127.0.0.1:$port/images/zlib.qcow2"
for _ in $(seq 1 100); do curl -sf -o /dev/null -r 0-0 "$url" && break; sleep 0.1; done

sent() { awk '{s += $2} END {printf "%.0f\n", s}' "$work/nginx/access.log"; }
now() { date +%s%N; }

# sequential NAME URI: one full read with nbdcopy; sets seq_ms and seq_bytes.
sequential() {
  local b0 t0
  b0=$(sent)
  t0=$(now)
  if ! timeout 60 nbdcopy $COPY_OPTS "$2" null:; then
    seq_ms=hung
    return 0
  fi
  seq_ms=$((($(now) - t0) / 1000000))
  seq_bytes=$(($(sent) - b0))
}

# random NAME URI: the seeded random reads; sets rnd ("p50 p99 iops") and rnd_bytes.
random_reads() {
  local b0
  b0=$(sent)
  rnd=$(timeout 300 /usr/bin/python3 bench/nbd-random-reads.py "$2" 2000 42) || rnd="hung hung hung"
  rnd_bytes=$(($(sent) - b0))
}

row() {
  local name=$1 p50 p99 iops
  read -r p50 p99 iops <<< "$rnd"
  if [[ $seq_ms == hung ]]; then
    echo "| $name | hung (nbdcopy $COPY_OPTS) | | $p50 | $p99 | $iops | $(awk -v b="$rnd_bytes" 'BEGIN {printf "%.1f", b / 2000 / 1024}') |"
    return 0
  fi
  awk -v n="$name" -v ms="$seq_ms" -v seq="$seq_bytes" -v rnd="$rnd_bytes" -v fs="$file_size" \
      -v p50="$p50" -v p99="$p99" -v iops="$iops" 'BEGIN {
    printf "| %s | %.0f | %.2fx | %s | %s | %s | %.1f |\n", n, 256 / (ms / 1000), seq / fs, p50, p99, iops, rnd / 2000 / 1024 }'
}

wait_socket() { for _ in $(seq 1 200); do [[ -S $1 ]] && return 0; sleep 0.05; done; echo "no socket $1" >&2; exit 1; }

# Each start_* starts a fresh export and prints its URI; stop_exports stops it again.
started=()
stop_exports() {
  # Newest first: nbdkit waits for its client (qemu-nbd) to go before it exits.
  local i
  # qemu's curl driver sometimes never finishes a request and then ignores SIGTERM: SIGKILL after 5 s.
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    kill "${started[i]}" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "${started[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -9 "${started[i]}" 2>/dev/null || true
    wait "${started[i]}" 2>/dev/null || true
  done
  started=()
  rm -f "$work"/*.sock "$work/agent.ready"
}
start_agent() {
  # shellcheck disable=SC2086
  ${agent_command:-java ${java_opts:-} -jar $jar} serve --server "http://127.0.0.1:$port/images" --image zlib.qcow2 \
    --listen "unix:$work/agent.sock" --cow none --ready-file "$work/agent.ready" 2>> "$work/agent.log" &
  started+=($!); pids+=($!)
  for _ in $(seq 1 200); do [[ -f $work/agent.ready ]] && break; sleep 0.05; done
  uri="nbd+unix:///?socket=$work/agent.sock"
}
start_qemu_http() {
  qemu-nbd -r -t -e 16 -f qcow2 -k "$work/qemu-http.sock" "$url" &
  started+=($!); pids+=($!)
  wait_socket "$work/qemu-http.sock"
  uri="nbd+unix:///?socket=$work/qemu-http.sock"
}
start_qemu_nbdkit() {
  nbdkit -f -U "$work/nbdkit.sock" curl url="$url" &
  started+=($!); pids+=($!)
  wait_socket "$work/nbdkit.sock"
  qemu-nbd -r -t -e 16 -k "$work/qemu-nbdkit.sock" --image-opts \
    "driver=qcow2,file.driver=nbd,file.server.type=unix,file.server.path=$work/nbdkit.sock" &
  started+=($!); pids+=($!)
  wait_socket "$work/qemu-nbdkit.sock"
  uri="nbd+unix:///?socket=$work/qemu-nbdkit.sock"
}

# peer NAME START: the sequential read on one fresh export, the random reads on another.
peer() {
  local name=$1 start=$2
  $start; sequential "$name" "$uri"; stop_exports
  $start; random_reads "$name" "$uri"; stop_exports
  row "$name"
}

COPY_OPTS="-C 1 -R 2"
runs=${1:-1}
echo "image: 256 MiB virtual, zlib, file $((file_size / 1048576)) MiB; nginx on 127.0.0.1; $(nproc) cores;" \
  "sequential: nbdcopy $COPY_OPTS URI null:"
for run in $(seq 1 "$runs"); do
  echo
  echo "run $run, $(date -u '+%Y-%m-%d %H:%M UTC'), load average$(uptime | sed 's/.*load average//')"
  echo
  echo "| peer | sequential MiB/s | fetched / file | random p50 (us) | p99 (us) | IOPS | KiB fetched per 4 KiB read |"
  echo "|---|---|---|---|---|---|---|"
  agent_command=$launcher
  peer "(a) branchboot-agent (boot runtime launcher)" start_agent
  if [[ -n ${BASELINE_LAUNCHER:-} ]]; then
    agent_command=$BASELINE_LAUNCHER
    peer "(a0) baseline: $BASELINE_LAUNCHER" start_agent
  fi
  agent_command=""
  java_opts=${AGENT_JAVA_OPTS:-}
  peer "(a') java ${AGENT_JAVA_OPTS:-} -jar branchboot-agent.jar" start_agent
  if [[ -n ${AGENT_TUNED_OPTS:-} ]]; then
    java_opts=$AGENT_TUNED_OPTS
    peer "(a') java $AGENT_TUNED_OPTS -jar branchboot-agent.jar" start_agent
  fi
  peer "(b) qemu-nbd + qemu http driver" start_qemu_http
  peer "(c) qemu-nbd over nbdkit curl" start_qemu_nbdkit
done
