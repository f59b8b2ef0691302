#!/usr/bin/env bash
# Quick start: builds branchboot, makes a small compressed QCOW2 image of an ext4 filesystem with
# qemu-img, reads it back with the agent (`info`, `cat`), serves it from an origin server over HTTP,
# and exports it over NBD with the agent (`serve`), checking the bytes against qemu-img each time.
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

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
port=${BRANCHBOOT_QUICKSTART_PORT:-18080}
echo "==> origin server on http://127.0.0.1:$port serving $work/images"
java -jar server/target/branchboot-server.jar --branchboot.images-dir="$work/images" \
  --server.address=127.0.0.1 --server.port="$port" > "$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/actuator/health/readiness" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/images"; echo
curl -fsS -r 0-3 "http://127.0.0.1:$port/images/sample.qcow2" | od -c | head -1
qemu-img convert -m 1 -f qcow2 -O raw "http://127.0.0.1:$port/images/sample.qcow2" "$work/over-http.raw"
cmp "$work/over-http.raw" "$work/reference.raw"
echo "==> qemu-img read the image through the server: same bytes"

echo "==> branchboot-agent serve: NBD export of the image with a RAM overlay"
rm -f "$work/nbd.sock" "$work/nbd.ready"
java -jar client-agent/target/branchboot-agent.jar serve --image "$work/images/sample.qcow2" \
  --listen "unix:$work/nbd.sock" --ready-file "$work/nbd.ready" > "$work/agent.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do [[ -f $work/nbd.ready ]] && break; sleep 0.25; done
nbdinfo --map "nbd+unix:///?socket=$work/nbd.sock"
nbdcopy "nbd+unix:///?socket=$work/nbd.sock" "$work/over-nbd.raw"
cmp "$work/over-nbd.raw" "$work/reference.raw"
echo "==> nbdcopy read the export: same bytes. Logs: $work/server.log, $work/agent.log"
