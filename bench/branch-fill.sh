#!/usr/bin/env bash
# A cold sequential read of a 1 GiB image through a cold branch, against the physical bound measured
# in the same run: the slower of reading the origin directly with the same client (curl, the image in
# the page cache) and writing the same bytes to the cache's disk with fsync (dd conv=fsync). Runs
# alternate; the table gives medians. Then one more fill of each branch under strace counts the
# fsync and fdatasync calls per MiB cached (the branch's data, checksums and presence; nothing else
# in it syncs), for this build and, with BASELINE_JAR, an earlier one (the 1 MiB chunk cache).
# Usage: bench/branch-fill.sh [RUNS]   (default 3; needs nginx, curl, strace and a built server jar)
#   BASELINE_JAR=path/to/old/branchboot-server.jar  also measure that jar's fill and fsyncs
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
head -c $((64 * 1024 * 1024)) /dev/urandom > "$work/images/warmup.img"
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
  # A server that has been up a while: its hot paths compiled (another image, read twice).
  curl -s -o /dev/null "$branch_url/warmup.img"
  curl -s -o /dev/null "$branch_url/warmup.img"
}
stop_branch() { kill "$branch_pid"; wait "$branch_pid" 2>/dev/null || true; }

through_branch() { # JAR [args...]
  start_branch "$@"
  mbps "$(curl -s -o /dev/null -w '%{time_total}' "$branch_url/bench.img")"
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
[[ -n ${BASELINE_JAR:-} ]] && configs+=("baseline (1 MiB chunks)|$BASELINE_JAR|--branchboot.cache.read-ahead=4")

declare -A results
for round in $(seq 1 "$runs"); do
  results[direct]+="$(direct) "
  results[disk]+="$(disk) "
  for c in "${configs[@]}"; do
    IFS='|' read -r name cjar arg <<< "$c"
    r=$(through_branch "$cjar" "$arg")
    results[$name]+="$r "
    echo "round $round: $name: $r MB/s" >&2
  done
done
echo "fsync and fdatasync calls per MiB cached in one fill:" >&2
declare -A syncs
for c in "${configs[@]}"; do
  IFS='|' read -r name cjar arg <<< "$c"
  syncs[$name]=$(syncs_per_mib "$cjar" "$arg")
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
direct_m=$(median <<< "${results[direct]}")
disk_m=$(median <<< "${results[disk]}")
bound=$((direct_m < disk_m ? direct_m : disk_m))
echo
echo "Direct from the origin (curl): $direct_m MB/s; the cache's disk with fsync (dd conv=fsync): $disk_m MB/s; bound: $bound MB/s."
echo
echo "| branch | cold sequential MB/s | x bound | fsyncs per MiB cached |"
echo "|---|---|---|---|"
for c in "${configs[@]}"; do
  IFS='|' read -r name _ _ <<< "$c"
  m=$(median <<< "${results[$name]}")
  echo "| $name | $m | $(python3 -c "print(f'{$m / $bound:.2f}')") | ${syncs[$name]} |"
done
