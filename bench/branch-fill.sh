#!/usr/bin/env bash
# A cold sequential read of a 1 GiB image through a cold branch, against the physical bound measured
# in the same run: the slower of reading the origin directly with the same client (curl, the image in
# the page cache) and writing the same bytes to the cache's disk with fsync (dd conv=fsync). Runs
# alternate; the table gives medians. Then one more fill of each branch under strace counts the
# fsync and fdatasync calls per MiB cached (the branch's data, checksums and presence; nothing else
# in it syncs), for this build and, with BASELINE_JAR, an earlier one (the 1 MiB chunk cache).
# Usage: bench/branch-fill.sh [RUNS]   (default 3; needs nginx, curl, strace and a built server jar)
#   BASELINE_JAR=path/to/old/branchboot-server.jar  also measure that jar's fill and fsyncs
#   BASELINE_NAME="..."                             its row's name (default: baseline (1 MiB chunks))
#   FETCH_SIZES="1MB 4MB"                           this build's branch with each fetch size
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
jar=server/target/branchboot-server.jar
[[ -f $jar ]] || mvn -B -q package -DskipTests -pl server -am
. bench/lib.sh
fetch_sizes=(${FETCH_SIZES:-1MB 4MB})

bench_workdir fill
chmod 755 "$work"
mkdir -p "$work/images"
size=$((1024 * 1024 * 1024))
head -c "$size" /dev/urandom > "$work/images/bench.img"
# Four warm-up images (copies would share one revision in the branch: the same ETag).
for i in 1 2 3 4; do head -c $((256 * 1024 * 1024)) /dev/urandom > "$work/images/warmup$i.img"; done
cat "$work/images/bench.img" > /dev/null
nginx_port=$(free_port)
bench_nginx "$work/nginx" "$nginx_port" "$work/images"
origin="http://127.0.0.1:$nginx_port/images"
until curl -s -o /dev/null "$origin/"; do sleep 0.2; done

mbps() { python3 -c "print(f'{$size / 1e6 / $1:.0f}')"; }

direct() { mbps "$(curl -s -o /dev/null -w '%{time_total}' "$origin/bench.img")"; }

disk() { # the branch's disk, the same bytes, forced to it before dd ends
  local t
  rm -f "$work/dd.out"
  t=$( { /usr/bin/time -f %e dd if="$work/images/bench.img" of="$work/dd.out" bs=1M conv=fsync status=none; } 2>&1 )
  rm -f "$work/dd.out"
  mbps "$t"
}

branch_pid=""
start_branch() { # JAR [args...]
  local jar=$1 port
  shift
  rm -rf "$work/cache"
  port=$(free_port)
  java -jar "$jar" --server.port="$port" --server.address=127.0.0.1 --branchboot.upstreams="$origin" \
    --branchboot.cache.dir="$work/cache" "$@" > "$work/branch.log" 2>&1 &
  branch_pid=$!
  pids+=("$branch_pid")
  branch_url="http://127.0.0.1:$port/images"
  until curl -sf -o /dev/null "$branch_url/../actuator/health/readiness"; do sleep 0.2; done
  # A server that has been up a while: its JIT settled on the cold-fill path (1 GiB of other
  # images filled cold; after only 128 MiB, C2 still used about a fifth of the branch's CPU in the
  # timed fill, recompiling Reactor and Netty code), and on the warm path (one of them again).
  for i in 1 2 3 4; do curl -s -o /dev/null "$branch_url/warmup$i.img"; done
  curl -s -o /dev/null "$branch_url/warmup1.img"
}
stop_branch() { kill "$branch_pid"; wait "$branch_pid" 2>/dev/null || true; }

# cached_bytes: the branch's branchboot_cache_cached_bytes gauge (0 when it has none)
cached_bytes() {
  curl -s "$branch_url/../actuator/prometheus" | awk '/^branchboot_cache_cached_bytes/ { printf "%.0f", $2; found = 1 }
    END { if (!found) print 0 }'
}

through_branch() { # JAR [args...]: "READ STORED": MB/s until curl has every byte, and until the cache has every byte durable
  start_branch "$@"
  local start read stored=- want
  want=$(($(cached_bytes) + size))
  start=$(date +%s.%N)
  read=$(curl -s -o /dev/null -w '%{time_total}' "$branch_url/bench.img")
  # The branch hands fetched bytes to readers before they are stored (written, fdatasync'd,
  # checksummed): the fill is over for the cache only when its gauge counts every byte.
  for _ in $(seq 1 500); do
    if (($(cached_bytes) >= want)); then
      stored=$(mbps "$(python3 -c "import time; print(time.time() - $start)")")
      break
    fi
    sleep 0.02
  done
  echo "$(mbps "$read") $stored"
  stop_branch
}

syncs_per_mib() { # JAR [args...]: one fill under strace
  start_branch "$@"
  strace -f -c -e trace=fsync,fdatasync -o "$work/strace.txt" -p "$branch_pid" &
  local tracer=$!
  sleep 1
  curl -s -o /dev/null "$branch_url/bench.img"
  sleep 3 # the presence writes of the last second
  kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
  stop_branch
  awk -v mib=$((size / 1048576)) '$NF == "fsync" || $NF == "fdatasync" { n += $4 } END { printf "%.2f\n", n / mib }' "$work/strace.txt"
}

configs=()
for f in "${fetch_sizes[@]}"; do configs+=("this build, fetch-size $f|$jar|--branchboot.cache.fetch-size=$f"); done
[[ -n ${BASELINE_JAR:-} ]] && configs+=("${BASELINE_NAME:-baseline (1 MiB chunks)}|$BASELINE_JAR|--branchboot.cache.read-ahead=4")

declare -A results stored
for round in $(seq 1 "$runs"); do
  results[direct]+="$(direct) "
  results[disk]+="$(disk) "
  for c in "${configs[@]}"; do
    IFS='|' read -r name cjar arg <<< "$c"
    read -r r st <<< "$(through_branch "$cjar" "$arg")"
    results[$name]+="$r "
    stored[$name]+="$st "
    echo "round $round: $name: $r MB/s read, $st MB/s stored" >&2
  done
done
echo "fsync and fdatasync calls per MiB cached in one fill:" >&2
declare -A syncs
for c in "${configs[@]}"; do
  IFS='|' read -r name cjar arg <<< "$c"
  syncs[$name]=$(syncs_per_mib "$cjar" "$arg")
done

median() { tr ' ' '\n' | { grep -v '^$' || true; } | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
direct_m=$(median <<< "${results[direct]}")
disk_m=$(median <<< "${results[disk]}")
bound=$((direct_m < disk_m ? direct_m : disk_m))
echo
echo "Direct from the origin (curl): $direct_m MB/s; the cache's disk with fsync (dd conv=fsync): $disk_m MB/s; bound: $bound MB/s."
echo
echo "| branch | cold sequential read MB/s | x bound | until all stored MB/s | x bound | fsyncs per MiB cached |"
echo "|---|---|---|---|---|---|"
ratio() { if [[ $1 == - ]]; then echo -; else python3 -c "print(f'{$1 / $bound:.2f}')"; fi; }
for c in "${configs[@]}"; do
  IFS='|' read -r name _ _ <<< "$c"
  m=$(median <<< "${results[$name]}")
  st=$(median <<< "${stored[$name]//-/}")
  st=${st:--}
  echo "| $name | $m | $(ratio "$m") | $st | $(ratio "$st") | ${syncs[$name]} |"
done
