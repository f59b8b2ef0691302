#!/usr/bin/env bash
# Benchmark: reading a QCOW2 image from an HTTP server (nginx, loopback) and exporting it over NBD:
#   (a) branchboot-agent serve --server URL --image NAME
#   (b) qemu-nbd with qemu's curl (http) block driver
#   (c) qemu-nbd over nbdkit's curl plugin
# Two workloads, one run each, same nginx and image (256 MiB virtual, zlib-compressed mixed content):
#   - a full sequential read: nbdcopy URI null:  (for (b) nbdcopy -C 1 -R 1: deeper queues hung
#     qemu's curl driver here; every nbdcopy runs under a 300 s timeout, a hang prints "hung")
#   - 2,000 seeded random 4 KiB reads at queue depth 1 (bench/nbd-random-reads.py): p50/p99, IOPS
# The bytes nginx sent in each phase come from its access log ($body_bytes_sent).
#
#   bench/agent-http-vs-qemu.sh
#
# Needs nginx, qemu-utils, qemu-block-extra, nbdkit (curl plugin), libnbd-bin, python3-libnbd.
set -euo pipefail
cd "$(dirname "$0")/.."
jar=client-agent/target/branchboot-agent.jar
if [[ ! -f $jar || ! -d testkit/target/classes ]]; then
  mvn -q -B -o package -DskipTests -pl testkit,qcow2,client-agent
fi
images=bench/work/http
mkdir -p "$images"
if [[ ! -f $images/zlib.qcow2 ]]; then
  java -cp testkit/target/classes dev.branchboot.testkit.ConformanceImages "$images/mixed-256m.raw" 256 6
  qemu-img convert -c -f raw -O qcow2 -o compression_type=zlib "$images/mixed-256m.raw" "$images/zlib.qcow2"
  rm -f "$images/mixed-256m.raw"
fi
file_size=$(stat -c %s "$images/zlib.qcow2")
cat "$images/zlib.qcow2" > /dev/null

work=$(mktemp -d /tmp/branchboot-httpbench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  log_format bytes '\$status \$body_bytes_sent';
  access_log $work/nginx/access.log bytes;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    location /images/ { alias $(realpath "$images")/; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
url="http://127.0.0.1:$port/images/zlib.qcow2"
for _ in $(seq 1 100); do curl -sf -o /dev/null -r 0-0 "$url" && break; sleep 0.1; done

sent() { awk '{s += $2} END {print s + 0}' "$work/nginx/access.log"; }
now() { date +%s%N; }

# run NAME URI NBDCOPY_OPTS: one sequential read, then the random reads, each with nginx's byte count.
run() {
  local name=$1 uri=$2 copyopts=$3
  local b0 t0 t1 b1 r b2
  b0=$(sent)
  t0=$(now)
  if ! timeout 300 nbdcopy $copyopts "$uri" null:; then
    echo "| $name | hung or failed (nbdcopy $copyopts) | | | | | |"
    return 0
  fi
  t1=$(now)
  b1=$(sent)
  r=$(timeout 300 /usr/bin/python3 bench/nbd-random-reads.py "$uri" 2000 42) || r="hung hung hung"
  b2=$(sent)
  read -r p50 p99 iops <<< "$r"
  awk -v n="$name" -v ms=$(((t1 - t0) / 1000000)) -v seq=$((b1 - b0)) -v rnd=$((b2 - b1)) -v fs="$file_size" \
      -v p50="$p50" -v p99="$p99" -v iops="$iops" 'BEGIN {
    printf "| %s | %.0f | %.2fx | %s | %s | %s | %.1f |\n", n, 256 / (ms / 1000), seq / fs, p50, p99, iops, rnd / 2000 / 1024 }'
}

wait_socket() { for _ in $(seq 1 200); do [[ -S $1 ]] && return 0; sleep 0.05; done; echo "no socket $1" >&2; exit 1; }

echo "image: 256 MiB virtual, zlib, file $((file_size / 1048576)) MiB; nginx on 127.0.0.1; $(nproc) cores"
echo
echo "| peer | sequential MiB/s | fetched / file | random p50 (us) | p99 (us) | IOPS | KiB fetched per 4 KiB read |"
echo "|---|---|---|---|---|---|---|"

# (a) the agent
java -jar "$jar" serve --server "http://127.0.0.1:$port/images" --image zlib.qcow2 --listen "unix:$work/agent.sock" \
  --cow none --ready-file "$work/agent.ready" 2> "$work/agent.log" &
pids+=($!)
for _ in $(seq 1 200); do [[ -f $work/agent.ready ]] && break; sleep 0.05; done
run "(a) branchboot-agent" "nbd+unix:///?socket=$work/agent.sock" ""
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# (b) qemu-nbd with qemu's http driver
qemu-nbd -r -t -e 16 -f qcow2 -k "$work/qemu-http.sock" "$url" &
pids+=($!)
wait_socket "$work/qemu-http.sock"
run "(b) qemu-nbd + qemu http driver" "nbd+unix:///?socket=$work/qemu-http.sock" "-C 1 -R 1"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# (c) qemu-nbd over nbdkit curl
nbdkit -f -U "$work/nbdkit.sock" curl url="$url" &
pids+=($!)
wait_socket "$work/nbdkit.sock"
qemu-nbd -r -t -e 16 -k "$work/qemu-nbdkit.sock" --image-opts \
  "driver=qcow2,file.driver=nbd,file.server.type=unix,file.server.path=$work/nbdkit.sock" &
pids+=($!)
wait_socket "$work/qemu-nbdkit.sock"
run "(c) qemu-nbd over nbdkit curl" "nbd+unix:///?socket=$work/qemu-nbdkit.sock" ""
