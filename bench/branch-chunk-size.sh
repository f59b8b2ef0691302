#!/usr/bin/env bash
# Chooses the branch cache's default chunk size: for each candidate, a fresh branch in front of an
# nginx origin on 127.0.0.1 serving a 256 MiB random image, measures
#   - cold sequential read of the whole image (MB/s, one client),
#   - cold random reads: 300 single 64 KiB ranges at random 64 KiB-aligned offsets (one client),
#     as a booting PC's scattered reads: median latency, and amplification (bytes nginx sent per
#     byte the client asked for, from nginx's access log),
#   - upstream requests per full read.
# Usage: bench/branch-chunk-size.sh [CHUNK_SIZES...]   (default 256KB 1MB 4MB 16MB)
# Needs: nginx, curl, python3, and a built server/target/branchboot-server.jar.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(256KB 1MB 4MB 16MB)
jar=server/target/branchboot-server.jar
[[ -f $jar ]] || mvn -B -q package -DskipTests -pl server -am
. bench/lib.sh

bench_workdir chunk-bench
chmod 755 "$work"
mkdir -p "$work/images" "$work/nginx"
image_size=$((256 * 1024 * 1024))
head -c "$image_size" /dev/urandom > "$work/images/bench.img"
nginx_port=$(free_port)
# shellcheck disable=SC2016 # nginx's variables, not the shell's
bench_nginx "$work/nginx" "$nginx_port" "$work/images" '$uri $status $body_bytes_sent'
sleep 0.5
python3 -c "import random; r=random.Random(42); print('\n'.join(str(r.randrange($image_size // 65536) * 65536) for _ in range(300)))" > "$work/offsets"

printf '%-8s %12s %14s %16s %14s\n' chunk 'seq MB/s' 'rand p50 ms' 'amplification' 'upstream reqs'
for size in "${sizes[@]}"; do
  rm -rf "$work/cache"; : > "$work/nginx/access.log"
  port=$(free_port)
  java -jar "$jar" --server.port="$port" --server.address=127.0.0.1 --branchboot.upstreams="http://127.0.0.1:$nginx_port/images" \
    --branchboot.cache.dir="$work/cache" --branchboot.cache.chunk-size="$size" > "$work/branch.log" 2>&1 & branch_pid=$!; pids+=("$branch_pid")
  until curl -sf "http://127.0.0.1:$port/actuator/health" > /dev/null; do sleep 0.2; done
  # Random reads first, on a cold cache.
  : > "$work/times"
  while read -r offset; do
    curl -s -o /dev/null -w '%{time_total}\n' -H "Range: bytes=$offset-$((offset + 65535))" \
      "http://127.0.0.1:$port/images/bench.img" >> "$work/times"
  done < "$work/offsets"
  sent=$(awk '$1 == "/images/bench.img" { s += $3 } END { print s + 0 }' "$work/nginx/access.log")
  p50=$(sort -n "$work/times" | awk '{ a[NR] = $1 } END { printf "%.2f", a[int(NR / 2) + 1] * 1000 }')
  amplification=$(python3 -c "print(f'{$sent / (300 * 65536):.1f}x')")
  # Then a cold sequential read on a fresh cache.
  kill "$branch_pid"; wait "$branch_pid" 2>/dev/null || true
  rm -rf "$work/cache"; : > "$work/nginx/access.log"
  java -jar "$jar" --server.port="$port" --server.address=127.0.0.1 --branchboot.upstreams="http://127.0.0.1:$nginx_port/images" \
    --branchboot.cache.dir="$work/cache" --branchboot.cache.chunk-size="$size" > "$work/branch.log" 2>&1 & branch_pid=$!; pids+=("$branch_pid")
  until curl -sf "http://127.0.0.1:$port/actuator/health" > /dev/null; do sleep 0.2; done
  seconds=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/images/bench.img")
  requests=$(awk '$1 == "/images/bench.img" && $2 == 206 { n++ } END { print n + 0 }' "$work/nginx/access.log")
  mbps=$(python3 -c "print(f'{$image_size / 1048576 / $seconds:.0f}')")
  printf '%-8s %12s %14s %16s %14s\n' "$size" "$mbps" "$p50" "$amplification" "$requests"
  kill "$branch_pid"; wait "$branch_pid" 2>/dev/null || true; branch_pid=""
done
