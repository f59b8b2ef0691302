#!/usr/bin/env bash
# CPU per served boot at a branch: the branch against nginx, the same 20 PCs' fetches at once.
#
# The image is bench/agent-cpu.sh's (bench/trace-image.py: the clusters the recorded Debian boot
# reads, as a zstd QCOW2). One agent boots it once from nginx with --trace, which records the image
# ranges a real agent fetches (reads and read-ahead); then each round starts 20 light HTTP
# replayers of those fetches at once (bench/bootstorm/http-replay.py: the boot's order and
# overlap, 4 connections each, If-Match) against the server under test, and takes that server's CPU
# over the round (utime + stime of its processes, all threads, from /proc):
#   warm:  nginx serving the file (worker_processes auto, sendfile)  vs  a branch in front of that
#          nginx with every byte cached
#   cold:  an nginx proxy cache with the slice module (1 MiB slices, cache lock), started anew with
#          an empty cache for each round  vs  the branch with its cache emptied before each round
#          (the admin API's eviction, so its JIT stays warm), both in front of the same origin
#          nginx (whose CPU is not counted)
# The branch's JIT is warmed by three rounds before anything is timed (cold mode: three cold
# rounds). Peers alternate, the order rotating between rounds. Prints every round, the medians and
# the branch/peer ratio.
#
#   bench/branch-cpu.sh [ROUNDS] [warm|cold]      (defaults 5, warm)
#   SERVER_JAR=other.jar bench/branch-cpu.sh      (another build of the server)
#   BASELINE_JAR=old.jar bench/branch-cpu.sh      (adds a peer "baseline": that build as a second
#                                                  branch, in the same rotation)
# Needs nginx, qemu-utils, python3-libnbd, curl, and mvn -B -DskipTests package.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
rounds=${1:-5}
mode=${2:-warm}
clients=20
jar=${SERVER_JAR:-server/target/branchboot-server.jar}
agent=boot/target/branchboot-runtime/bin/branchboot-agent
trace=bench/bootstorm/traces/debian-bookworm-boot.trace.gz
py=/usr/bin/python3
[[ -f $jar && -x $agent ]] || { echo "branch-cpu: build first: mvn -B -DskipTests package" >&2; exit 1; }

images=bench/work/trace-image
bench_trace_image

bench_workdir branchcpu
chmod 755 "$work"
mkdir -p "$work/images"
cp "$images/boot.qcow2" "$work/images/boot.qcow2"
chmod 644 "$work/images/boot.qcow2"
cat "$work/images/boot.qcow2" > /dev/null
origin_port=$(free_port)
bench_nginx "$work/origin" "$origin_port" "$work/images" "" "worker_processes auto;" "tcp_nopush on;"
origin_pid=$nginx_pid
wait_http() { for _ in $(seq 1 300); do curl -sf -o /dev/null -r 0-0 "$1" && return 0; sleep 0.1; done; echo "branch-cpu: $1 does not answer" >&2; exit 1; }
wait_http "http://127.0.0.1:$origin_port/images/boot.qcow2"

# The fetches one agent makes for the boot.
"$agent" serve --server "http://127.0.0.1:$origin_port/images" --image boot.qcow2 --listen "unix:$work/ws.sock" --cow none \
  --ready-file "$work/ws.ready" --trace "$work/fetch.trace" > "$work/ws.log" 2>&1 &
ws_pid=$!
for _ in $(seq 1 300); do [[ -f $work/ws.ready ]] && break; sleep 0.05; done
$py bench/bootstorm/replay.py "$trace" "nbd+unix:///?socket=$work/ws.sock" > /dev/null
kill "$ws_pid"; wait "$ws_pid" 2>/dev/null || true

declare -A branch_port branch_pid branch_jar
branch_jar[branch]=$jar
[[ -n ${BASELINE_JAR:-} ]] && branch_jar[baseline]=$BASELINE_JAR
for b in "${!branch_jar[@]}"; do branch_port[$b]=$(free_port); done
# start_branch NAME: the branch build NAME (branch or baseline) with its own cache folder
start_branch() {
  local b=$1
  java -jar "${branch_jar[$b]}" --branchboot.upstreams="http://127.0.0.1:$origin_port/images" \
    --branchboot.cache.dir="$work/cache-$b" --server.address=127.0.0.1 --server.port="${branch_port[$b]}" \
    --branchboot.admin-token="$admin_token" > "$work/$b.log" 2>&1 &
  branch_pid[$b]=$!
  pids+=("$!")
  wait_http "http://127.0.0.1:${branch_port[$b]}/images/boot.qcow2"
}
stop_branch() { kill "${branch_pid[$1]}"; wait "${branch_pid[$1]}" 2>/dev/null || true; }
admin_token=bench-token-$RANDOM$RANDOM$RANDOM
# empty_branch NAME: evicts the image from the branch's cache (the admin API), JIT and all else kept
empty_branch() {
  curl -sf -X DELETE -H "Authorization: Bearer $admin_token" \
    "http://127.0.0.1:${branch_port[$1]}/admin/images/boot.qcow2/cache" -o /dev/null ||
    { echo "branch-cpu: could not empty the cache of $1" >&2; exit 1; }
}

slice_port=$(free_port)
slice_pids=()
start_slice() { # a proxy cache as a site would configure one (bench/lib.sh)
  bench_nginx_slice_conf "$work/slice" "127.0.0.1:$slice_port" "127.0.0.1:$origin_port"
  nginx -c "$work/slice/nginx.conf" -e "$work/slice/error.log" &
  slice_pids=("$!")
  pids+=("$!")
  wait_http "http://127.0.0.1:$slice_port/images/boot.qcow2"
}
stop_slice() { kill "${slice_pids[0]}"; wait "${slice_pids[0]}" 2>/dev/null || true; }

# server_pids PEER: the processes whose CPU counts (nginx's master and workers; the branch's JVM)
server_pids() {
  case $1 in
    nginx) echo "$origin_pid" $(pgrep -P "$origin_pid") ;;
    slice) echo "${slice_pids[0]}" $(pgrep -P "${slice_pids[0]}") ;;
    *) echo "${branch_pid[$1]}" ;;
  esac
}
peer_url() {
  case $1 in
    nginx) echo "http://127.0.0.1:$origin_port/images/boot.qcow2" ;;
    slice) echo "http://127.0.0.1:$slice_port/images/boot.qcow2" ;;
    *) echo "http://127.0.0.1:${branch_port[$1]}/images/boot.qcow2" ;;
  esac
}

# storm PEER: 20 replayers at once against PEER; prints "cpu_seconds slowest_replay_seconds"
storm() {
  local peer=$1 before after start_at i out=() slowest
  before=$($py bench/cpu-per-boot.py $(server_pids "$peer"))
  start_at=$($py -c 'import time; print(time.time() + 1.0)')
  for ((i = 0; i < clients; i++)); do
    $py bench/bootstorm/http-replay.py "$work/fetch.trace" "$(peer_url "$peer")" --start-at "$start_at" > "$work/replay.$i" &
    out+=($!)
  done
  for p in "${out[@]}"; do wait "$p" || { echo "branch-cpu: a replayer against $peer failed" >&2; exit 1; }; done
  after=$($py bench/cpu-per-boot.py $(server_pids "$peer"))
  slowest=$(cat "$work"/replay.* | $py -c 'import json,sys; print(max(json.loads(l)["seconds"] for l in sys.stdin))')
  echo "$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }') $slowest"
}

builds=("${!branch_jar[@]}")
if [[ $mode == warm ]]; then
  peers=(nginx "${builds[@]}")
  for b in "${builds[@]}"; do
    start_branch "$b"
    for _ in 1 2 3; do storm "$b" > /dev/null; done # fills the cache, then warms the JIT
  done
else
  peers=(slice "${builds[@]}")
  for b in "${builds[@]}"; do
    start_branch "$b"
    for _ in 1 2 3; do storm "$b" > /dev/null; sleep 1; empty_branch "$b"; done
  done
fi

declare -A cpu secs
echo "round peer cpu_s_for_${clients}_boots slowest_boot_s"
for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < ${#peers[@]}; k++)); do
    peer=${peers[(r + k) % ${#peers[@]}]}
    if [[ $mode == cold ]]; then
      case $peer in
        slice) start_slice ;;
      esac
    fi
    read -r c s < <(storm "$peer")
    if [[ $mode == cold ]]; then
      case $peer in slice) stop_slice ;; *) sleep 1; empty_branch "$peer" ;; esac
    fi
    echo "$((r + 1)) $peer $c $s"
    cpu[$peer]+="$c "; secs[$peer]+="$s "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "peer median_cpu_s median_slowest_s cpu_ms_per_boot"
for peer in "${peers[@]}"; do
  m=$(median <<<"${cpu[$peer]}")
  echo "$peer $m $(median <<<"${secs[$peer]}") $(awk -v m="$m" -v n="$clients" 'BEGIN { printf "%.0f", 1000 * m / n }')"
done
p=$(median <<<"${cpu[${peers[0]}]}")
target=1.5; [[ $mode == cold ]] && target=2.0
for b in "${builds[@]}"; do
  c=$(median <<<"${cpu[$b]}")
  echo "$b / ${peers[0]} CPU ($mode): $(awk -v b="$c" -v p="$p" 'BEGIN { printf "%.2fx", b / p }') (target <= ${target}x)"
done
