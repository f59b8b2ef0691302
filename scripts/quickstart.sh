#!/usr/bin/env bash
# Quick start: builds branchboot, makes a small compressed QCOW2 image of an ext4 filesystem with
# qemu-img, and reads it back with the agent (`info`, `cat`), checking the bytes against qemu-img.
# Everything it makes goes to ./quickstart (or the folder given as the first argument).
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
qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd "$work/sample.raw" "$work/sample.qcow2"

echo "==> branchboot-agent info $work/sample.qcow2"
"${agent[@]}" info "$work/sample.qcow2"
echo "==> branchboot-agent cat $work/sample.qcow2 -o $work/sample.out.raw --progress"
"${agent[@]}" cat "$work/sample.qcow2" -o "$work/sample.out.raw" --progress
qemu-img convert -O raw "$work/sample.qcow2" "$work/reference.raw"
cmp "$work/sample.out.raw" "$work/reference.raw"
echo "==> the agent's bytes equal qemu-img's; the filesystem inside:"
debugfs -R "ls -l /home/lab" "$work/sample.out.raw" 2>/dev/null
debugfs -R "cat /etc/motd" "$work/sample.out.raw" 2>/dev/null
