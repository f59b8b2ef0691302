#!/usr/bin/env bash
# The branch site on one machine: an origin, a branch and N PCs in network namespaces joined by
# veth pairs, the uplink shaped with tc htb (100 Mbit/s or 1 Gbit/s; the kernel has no netem, so a
# 20 ms round trip is added by a delaying relay, bench/bootstorm/delay-relay.py), each PC's port
# at 1 Gbit/s, the LAN behind the branch unshaped. The PCs replay the reads of a recorded Debian
# boot (bench/bootstorm/traces) all at once, and the run compares, for the same reads:
#   branchboot   origin -> branch (cold, then warm) -> N agents (real agents serving NBD)
#   no-branch    N agents straight from the origin over the uplink
#   qemu-nbd     qemu-nbd with qemu's http driver per PC, straight from the origin
#   nginx-slice  qemu-nbd per PC through an nginx proxy cache with the slice module (1m) at the branch
#   raw          branchboot with the same image uncompressed
#   dnbd3        a dnbd3 proxy at the branch in front of a dnbd3 server, PCs through dnbd3-fuse
#                (the raw image; only with DNBD3_DIR, a dnbd3 build: see docs/benchmarks.md)
#   branchboot-http  light HTTP replayers of the agent's recorded fetches instead of agents (N = 100,
#                    and N = 20 to set the site's network apart from 20 agents' CPU on two cores)
#   no-branch-http   the same light replayers straight from the origin
# Every result is a line of JSON in $BOOTSTORM_WORK/results.jsonl; bench/bootstorm/report.py makes
# the table and the plot for docs/benchmarks.md.
#
# Usage: bench/bootstorm/run.sh [full|quick|SCENARIO...]   (as root; after mvn -B -DskipTests package)
#   SCENARIO is SETUP:N:RATE:DELAY_MS[:cold|warm], e.g. branchboot:20:100mbit:0
# Environment: BOOTSTORM_WORK (default /tmp/branchboot-bootstorm), DNBD3_DIR, BOOTSTORM_IMAGE (a
# qcow2 image to use instead of the Debian one test/vm-boot.sh makes).
# Namespaces, relays and processes are removed on exit, also when killed, and leftovers of an
# earlier run at start. Traffic is bounded: each scenario replays one boot per PC.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/bench/bootstorm
. "$repo/bench/lib.sh" # bench_nginx_slice_conf
work=${BOOTSTORM_WORK:-/tmp/branchboot-bootstorm}
trace=$here/traces/debian-bookworm-boot.trace.gz
server_jar=$repo/server/target/branchboot-server.jar
agent=$repo/boot/target/branchboot-runtime/bin/branchboot-agent
NS=bbst
py=/usr/bin/python3

say() { echo "bootstorm: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
# Foreground only: `ns X cmd &` would put a subshell in the background, whose pid is not cmd's;
# background commands call ip netns exec themselves (it execs, so $! is the command's pid).
ns() { local n=$1; shift; ip netns exec "$NS-$n" "$@"; }

[[ $(id -u) -eq 0 ]] || die "run as root (network namespaces)"
[[ -f $server_jar && -x $agent ]] || die "build first: mvn -B -DskipTests package"
for tool in ip tc qemu-img qemu-nbd nginx curl; do command -v "$tool" >/dev/null || die "$tool is missing"; done
$py -c 'import nbd' 2>/dev/null || die "python3-libnbd is missing (bash scripts/install-deps.sh)"

# --- clean-up: every process in our namespaces, fuse mounts, the namespaces --------------------
cleanup() {
  local n p
  for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts 2>/dev/null); do
    fusermount -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  for n in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep "^$NS-" || true); do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  done
  sleep 0.5
  for n in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep "^$NS-" || true); do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$n" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup

# --- the site: origin, branch, PCs --------------------------------------------------------------
clients_made=0
topology() { # CLIENTS
  local i
  ip netns add "$NS-origin"
  ip netns add "$NS-branch"
  ns origin ip link set lo up
  ns branch ip link set lo up
  ip link add up0 netns "$NS-origin" type veth peer name up1 netns "$NS-branch"
  ns origin ip addr add 10.77.0.1/24 dev up0
  ns branch ip addr add 10.77.0.2/24 dev up1
  ns origin ip link set up0 up
  ns branch ip link set up1 up
  ns branch ip link add br0 type bridge
  ns branch ip addr add 10.77.1.1/24 dev br0
  ns branch ip link set br0 up
  ns branch sysctl -qw net.ipv4.ip_forward=1
  ns origin ip route add 10.77.1.0/24 via 10.77.0.2
  for ((i = 1; i <= $1; i++)); do
    ip netns add "$NS-c$i"
    ns "c$i" ip link set lo up
    ip link add c0 netns "$NS-c$i" type veth peer name "p$i" netns "$NS-branch"
    ns "c$i" ip addr add "10.77.1.$((10 + i))/24" dev c0
    ns "c$i" ip link set c0 up
    ns "c$i" ip route add default via 10.77.1.1
    ns branch ip link set "p$i" master br0
    ns branch ip link set "p$i" up
    shape "c$i" c0 1gbit
    shape branch "p$i" 1gbit
  done
  clients_made=$1
}

shape() { # NS DEV RATE: egress of DEV at RATE (htb: exact at these rates, unlike tbf's burst tuning)
  ns "$1" tc qdisc del dev "$2" root 2>/dev/null || true
  ns "$1" tc qdisc add dev "$2" root handle 1: htb default 1
  # one class: its quantum only needs to exceed a packet (the default, rate/10, trips a warning at 1 Gbit/s)
  ns "$1" tc class add dev "$2" parent 1: classid 1:1 htb rate "$3" ceil "$3" quantum 200000
}

uplink() { # RATE: both directions of the origin-branch link
  shape origin up0 "$1"
  shape branch up1 "$1"
}

counter() { ns "$1" cat "/sys/class/net/$2/statistics/$3"; }
# CPU seconds (user + system) the given processes have used: the site shares two cores, so a
# scenario's time is also a question of whose CPU it took.
cpu_seconds() {
  local p ticks=0
  for p in "$@"; do [[ -r /proc/$p/stat ]] && ticks=$((ticks + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'
}
# The image bytes the origin server sent (HTTP bodies, without TCP/IP headers): what "pulled over
# the uplink" means for the working-set ratio; the wire counters include ~4% of headers.
origin_body_bytes() {
  local http dnbd3=0
  http=$(ns origin curl -fsS http://127.0.0.1:8080/actuator/prometheus |
    awk '/^branchboot_response_bytes_total\{.*route="image"/ { s += $NF } END { printf "%.0f\n", s }')
  if [[ -n $dnbd3_origin_pid ]]; then
    dnbd3=$(ns origin curl -fsS "http://127.0.0.1:5003/query?q=stats" | "$py" -c 'import json, sys; d = json.load(sys.stdin); print(d.get("stats", d)["bytesSent"])')
  fi
  echo $((http + dnbd3))
}
lan_bytes() {
  local i sum=0
  for ((i = 1; i <= clients_made; i++)); do sum=$((sum + $(counter branch "p$i" tx_bytes))); done
  echo "$sum"
}

wait_http() { # NS URL LOG
  local i
  for i in $(seq 1 240); do
    ns "$1" curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
    sleep 0.25
  done
  tail -n 30 "$3" >&2
  die "$2 did not come up"
}

# --- servers ------------------------------------------------------------------------------------
up_port=8080 # what the branch and straight PCs connect to at the origin: the server, or the relay
start_origin() {
  ip netns exec "$NS-origin" java -Xmx768m -XX:+UseParallelGC -jar "$server_jar" --branchboot.images-dir="$work/images" \
    --server.address=0.0.0.0 --server.port=8080 --spring.main.banner-mode=off > "$work/logs/origin.log" 2>&1 &
  wait_http origin http://127.0.0.1:8080/actuator/health/readiness "$work/logs/origin.log"
}

relay_pid=""
set_delay() { # MS: 0 = straight to the origin server
  if [[ -n $relay_pid ]]; then kill "$relay_pid" 2>/dev/null || true; wait "$relay_pid" 2>/dev/null || true; relay_pid=""; fi
  if [[ $1 == 0 ]]; then up_port=8080; return; fi
  ip netns exec "$NS-origin" "$py" "$here/delay-relay.py" 10.77.0.1:9080 127.0.0.1:8080 "$(($1 / 2))" > "$work/logs/relay.log" 2>&1 &
  relay_pid=$!
  up_port=9080
  wait_http origin http://10.77.0.1:9080/actuator/health/readiness "$work/logs/relay.log"
}

branch_pid=""
start_branch() { # fresh|keep
  [[ $1 == fresh ]] && rm -rf "$work/cache"
  ip netns exec "$NS-branch" java -Xmx1g -XX:+UseParallelGC -jar "$server_jar" --branchboot.upstreams="http://10.77.0.1:$up_port/images" \
    --branchboot.cache.dir="$work/cache" --server.address=0.0.0.0 --server.port=8080 --spring.main.banner-mode=off \
    > "$work/logs/branch.log" 2>&1 &
  branch_pid=$!
  wait_http branch http://127.0.0.1:8080/actuator/health/readiness "$work/logs/branch.log"
  warm_up branch http://10.77.1.1:8080/images/warmup.raw
}

# A server that has been up for a while has its hot paths compiled; a fresh JVM would time its JIT,
# not its design. 3,000 reads of another image, 400 misses and the rest hits, before the clock starts.
warm_up() { # NS URL
  ns "$1" "$py" - "$2" <<'PY'
import http.client, random, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
r = random.Random(7)
offsets = [r.randrange(0, 60 << 20) for _ in range(400)]
for i in range(3000):
    o = offsets[i % 400]
    c.request("GET", u.path, headers={"Range": f"bytes={o}-{o + 4095 + (i % 8) * 4096}"})
    resp = c.getresponse()
    resp.read()
    assert resp.status == 206, resp.status
PY
}
stop_branch() {
  [[ -n $branch_pid ]] || return 0
  kill "$branch_pid" 2>/dev/null || true
  wait "$branch_pid" 2>/dev/null || true
  branch_pid=""
}

nginx_pid=""
start_nginx_slice() { # a proxy cache as a site would configure one (bench/lib.sh), at the branch
  bench_nginx_slice_conf "$work/nginx" "10.77.1.1:8090" "10.77.0.1:$up_port"
  ip netns exec "$NS-branch" nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
  nginx_pid=$!
  sleep 0.5
}
stop_nginx() {
  [[ -n $nginx_pid ]] || return 0
  kill "$nginx_pid" 2>/dev/null || true
  wait "$nginx_pid" 2>/dev/null || true
  nginx_pid=""
}

dnbd3_origin_pid=""
dnbd3_proxy_pid=""
. "$here/dnbd3.sh"

# --- PCs ----------------------------------------------------------------------------------------
pc_pids=()
start_agents() { # N URL IMAGE [agent options...]
  local n=$1 url=$2 image=$3 i
  shift 3
  for ((i = 1; i <= n; i++)); do
    rm -f "$work/c$i.sock" "$work/c$i.ready"
    ip netns exec "$NS-c$i" env BRANCHBOOT_HEAP=192m "$agent" serve --server "$url" --image "$image" --listen "unix:$work/c$i.sock" \
      --cow none --ready-file "$work/c$i.ready" "$@" > "$work/logs/agent-c$i.log" 2>&1 &
    pc_pids+=($!)
  done
  for ((i = 1; i <= n; i++)); do await_path -f "$work/c$i.ready" "$work/logs/agent-c$i.log" "agent c$i"; done
}

await_path() { # TEST PATH LOG WHAT: waits (60 s at most) until [[ TEST PATH ]], else shows LOG and gives up
  for _ in $(seq 1 600); do test "$1" "$2" && return 0; sleep 0.1; done
  tail -n 20 "$3" >&2
  die "$4 did not start"
}

start_qemu_nbds() { # N URL
  local n=$1 url=$2 i
  for ((i = 1; i <= n; i++)); do
    rm -f "$work/c$i.sock"
    ip netns exec "$NS-c$i" qemu-nbd -r -f qcow2 -k "$work/c$i.sock" --cache=writeback "$url" > "$work/logs/qemu-nbd-c$i.log" 2>&1 &
    pc_pids+=($!)
  done
  for ((i = 1; i <= n; i++)); do await_path -S "$work/c$i.sock" "$work/logs/qemu-nbd-c$i.log" "qemu-nbd c$i"; done
}

stop_pcs() {
  local p
  for p in "${pc_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # a qemu-nbd stuck in a read over http ignores SIGTERM (seen here): escalate after 5 s
  for _ in $(seq 1 50); do
    for p in "${pc_pids[@]}"; do kill -0 "$p" 2>/dev/null && break; p=""; done
    [[ -z ${p:-} ]] && break
    sleep 0.1
  done
  for p in "${pc_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pc_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pc_pids=()
}

# replay SETUP N RATE DELAY PHASE KIND [TARGET_PATTERN] : all PCs at once; one line into results.jsonl
replay() {
  local setup=$1 n=$2 rate=$3 delay=$4 phase=$5 kind=$6 target=${7:-} i up0 lan0 body0 start_at rpids=() max_in_flight=64
  # qemu 7.2's http driver hangs with more than about two reads in flight, and hung at two here too
  [[ $setup == qemu-nbd || $setup == nginx-slice ]] && max_in_flight=1
  rm -rf "$work/r"
  mkdir -p "$work/r"
  up0=$(counter origin up0 tx_bytes)
  lan0=$(lan_bytes)
  body0=$(origin_body_bytes)
  local cpu_branch0 cpu_pcs0
  cpu_branch0=$(cpu_seconds $branch_pid $nginx_pid $dnbd3_proxy_pid)
  cpu_pcs0=$(cpu_seconds "${pc_pids[@]}")
  start_at=$(awk -v t="$(date +%s.%N)" 'BEGIN { printf "%.3f", t + 2 }')
  for ((i = 1; i <= n; i++)); do
    case $kind in
      nbd) ip netns exec "$NS-c$i" timeout 240 "$py" "$here/replay.py" "$trace" "nbd+unix:///?socket=$work/c$i.sock" --start-at "$start_at" \
             --max-in-flight "$max_in_flight" --out "$work/r/c$i.json" > /dev/null 2> "$work/logs/replay-c$i.log" & ;;
      file) ip netns exec "$NS-c$i" timeout 240 "$py" "$here/replay.py" "$trace" "${target//@/$i}" --start-at "$start_at" \
             --out "$work/r/c$i.json" > /dev/null 2> "$work/logs/replay-c$i.log" & ;;
      http) ip netns exec "$NS-c$i" timeout 240 "$py" "$here/http-replay.py" "$work/fetch.trace" "$target" --start-at "$start_at" \
             --out "$work/r/c$i.json" > /dev/null 2> "$work/logs/replay-c$i.log" & ;;
    esac
    rpids+=($!)
  done
  local failed=0
  for i in "${!rpids[@]}"; do
    wait "${rpids[$i]}" || { failed=$((failed + 1)); say "replay c$((i + 1)) failed or hung: $(tail -n 2 "$work/logs/replay-c$((i + 1)).log")"; }
  done
  "$py" - "$work/r" "$setup" "$n" "$rate" "$delay" "$phase" "$start_at" "$(($(counter origin up0 tx_bytes) - up0))" \
    "$(($(lan_bytes) - lan0))" "$kind" "$(($(origin_body_bytes) - body0))" \
    "$(awk -v a="$(cpu_seconds $branch_pid $nginx_pid $dnbd3_proxy_pid)" -v b="$cpu_branch0" 'BEGIN { printf "%.1f", a - b }')" \
    "$(awk -v a="$(cpu_seconds "${pc_pids[@]}")" -v b="$cpu_pcs0" 'BEGIN { printf "%.1f", a - b }')" "$failed" \
    >> "$work/results.jsonl" <<'PY'
import glob, json, sys
d, setup, n, rate, delay, phase, start_at, up, lan, kind, body, branch_cpu, pcs_cpu, failed = sys.argv[1:]
runs = [json.load(open(f)) for f in sorted(glob.glob(d + "/*.json"))]
if not runs:
    print(json.dumps({"setup": setup, "n": int(n), "rate": rate, "delay_ms": int(delay), "phase": phase, "replayer": kind,
                      "failed": int(failed), "uplink_bytes": int(up), "origin_body_bytes": int(body), "lan_bytes": int(lan)}))
    sys.exit()
lat = sorted(x for r in runs for x in r["latencies_ms"])
last = max(r["started"] + r["seconds"] for r in runs) - float(start_at)
print(json.dumps({"setup": setup, "n": int(n), "rate": rate, "delay_ms": int(delay), "phase": phase, "replayer": kind,
                  "last_done_s": round(last, 2), "p50_ms": lat[len(lat) // 2], "p99_ms": lat[int(len(lat) * 0.99)],
                  "uplink_bytes": int(up), "origin_body_bytes": int(body), "lan_bytes": int(lan),
                  "branch_cpu_s": float(branch_cpu), "pcs_cpu_s": float(pcs_cpu), "failed": int(failed)}))
PY
  say "$(tail -n 1 "$work/results.jsonl")"
}

# --- one scenario -------------------------------------------------------------------------------
scenario() { # SETUP N RATE DELAY [cold|warm]
  local setup=$1 n=$2 rate=$3 delay=$4 phase=${5:-cold}
  say "== $setup N=$n uplink $rate delay ${delay}ms $phase"
  uplink "$rate"
  set_delay "$delay"
  case $setup in
    branchboot | raw)
      local image=debian.qcow2 format=()
      [[ $setup == raw ]] && image=debian.raw format=(--format raw)
      if [[ $phase == cold ]]; then stop_branch; start_branch fresh; fi
      start_agents "$n" http://10.77.1.1:8080/images "$image" "${format[@]}"
      replay "$setup" "$n" "$rate" "$delay" "$phase" nbd
      stop_pcs ;;
    no-branch)
      start_agents "$n" "http://10.77.0.1:$up_port/images" debian.qcow2
      replay "$setup" "$n" "$rate" "$delay" "$phase" nbd
      stop_pcs ;;
    qemu-nbd)
      start_qemu_nbds "$n" "http://10.77.0.1:$up_port/images/debian.qcow2"
      replay "$setup" "$n" "$rate" "$delay" "$phase" nbd
      stop_pcs ;;
    nginx-slice)
      stop_nginx
      start_nginx_slice
      start_qemu_nbds "$n" http://10.77.1.1:8090/images/debian.qcow2
      replay "$setup" "$n" "$rate" "$delay" "$phase" nbd
      stop_pcs
      stop_nginx ;;
    dnbd3)
      dnbd3_available || { say "no dnbd3 build (DNBD3_DIR): row left out"; return 0; }
      dnbd3_start_origin_and_proxy "$delay"
      dnbd3_mount_clients "$n"
      replay "$setup" "$n" "$rate" "$delay" "$phase" file "$work/mnt/c@/img"
      dnbd3_stop ;;
    branchboot-http)
      if [[ $phase == cold ]]; then stop_branch; start_branch fresh; fi
      replay "$setup" "$n" "$rate" "$delay" "$phase" http http://10.77.1.1:8080/images/debian.qcow2 ;;
    no-branch-http)
      replay "$setup" "$n" "$rate" "$delay" "$phase" http "http://10.77.0.1:$up_port/images/debian.qcow2" ;;
    *) die "unknown setup $setup" ;;
  esac
}

# --- the image, its working set, and the agent's fetches for the light replayer ----------------
prepare() {
  mkdir -p "$work/images" "$work/logs"
  local image=${BOOTSTORM_IMAGE:-$repo/target/vm-boot/images/debian.qcow2}
  if [[ ! -f $image ]]; then
    say "making the Debian image (test/vm-boot.sh debian-image)"
    bash "$repo/test/vm-boot.sh" debian-image >&2
  fi
  cp --reflink=auto "$image" "$work/images/debian.qcow2"
  head -c 64M /dev/urandom > "$work/images/warmup.raw"
  qemu-img convert -f qcow2 -O raw "$work/images/debian.qcow2" "$work/images/debian.raw"
  dnbd3_prepare_image "$work/images/debian.raw"
  # One boot on loopback with the agent tracing its fetches: this image's compressed working set.
  ip netns exec "$NS-origin" java -jar "$repo/client-agent/target/branchboot-agent.jar" serve --server http://127.0.0.1:8080/images \
    --image debian.qcow2 --listen "unix:$work/ws.sock" --cow none --ready-file "$work/ws.ready" --trace "$work/fetch.trace" \
    > "$work/logs/working-set.log" 2>&1 &
  local p=$!
  for _ in $(seq 1 300); do [[ -f $work/ws.ready ]] && break; sleep 0.1; done
  "$py" "$here/replay.py" "$trace" "nbd+unix:///?socket=$work/ws.sock" > /dev/null
  kill "$p"; wait "$p" 2>/dev/null || true
  "$py" "$here/report.py" working-set "$trace" "$work/fetch.trace" > "$work/working-set.json"
  say "working set: $(cat "$work/working-set.json")"
}

scenarios=()
case ${1:-full} in
  quick) scenarios=(branchboot:1:100mbit:0 branchboot:5:100mbit:0 branchboot:5:100mbit:0:warm no-branch:5:100mbit:0
                    nginx-slice:2:100mbit:0 raw:2:100mbit:0 dnbd3:2:100mbit:0 branchboot-http:10:100mbit:0) ;;
  # qemu-nbd straight pulls ~10x the working set per PC (411 MB at N = 1): N = 20 would take 11
  # minutes of 100 Mbit/s, so it runs at N = 1 and 5 only.
  full) scenarios=(
    branchboot:1:100mbit:0 branchboot:5:100mbit:0 branchboot:20:100mbit:0 branchboot:20:100mbit:0:warm
    no-branch:1:100mbit:0 no-branch:5:100mbit:0 no-branch:20:100mbit:0
    qemu-nbd:1:100mbit:0 qemu-nbd:5:100mbit:0
    nginx-slice:1:100mbit:0 nginx-slice:5:100mbit:0 nginx-slice:20:100mbit:0
    raw:1:100mbit:0 raw:20:100mbit:0
    dnbd3:1:100mbit:0 dnbd3:5:100mbit:0 dnbd3:20:100mbit:0
    branchboot-http:20:100mbit:0 no-branch-http:20:100mbit:0
    branchboot:1:100mbit:20 branchboot:20:100mbit:20 no-branch:20:100mbit:20 nginx-slice:20:100mbit:20 dnbd3:20:100mbit:20
    branchboot:20:1gbit:0 no-branch:20:1gbit:0 nginx-slice:20:1gbit:0 dnbd3:20:1gbit:0
    branchboot-http:100:100mbit:0) ;;
  rest) scenarios=( # the full run's scenarios after qemu-nbd, to finish an interrupted run
    nginx-slice:1:100mbit:0 nginx-slice:5:100mbit:0 nginx-slice:20:100mbit:0
    raw:1:100mbit:0 raw:20:100mbit:0
    dnbd3:1:100mbit:0 dnbd3:5:100mbit:0 dnbd3:20:100mbit:0
    branchboot-http:20:100mbit:0 no-branch-http:20:100mbit:0
    branchboot:1:100mbit:20 branchboot:20:100mbit:20 no-branch:20:100mbit:20 nginx-slice:20:100mbit:20 dnbd3:20:100mbit:20
    branchboot:20:1gbit:0 no-branch:20:1gbit:0 nginx-slice:20:1gbit:0 dnbd3:20:1gbit:0
    branchboot-http:100:100mbit:0 qemu-nbd:5:100mbit:0) ;;
  *) scenarios=("$@") ;;
esac
max_n=1
for s in "${scenarios[@]}"; do IFS=: read -r _ n _ <<< "$s"; ((n > max_n)) && max_n=$n; done

mkdir -p "$work/logs" "$work/images"
rm -f "$work/results.jsonl"
topology "$max_n"
start_origin
prepare
warm_up origin http://127.0.0.1:8080/images/warmup.raw
{ echo "# bootstorm $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB, kernel $(uname -r)"; } > "$work/run.txt"
for s in "${scenarios[@]}"; do
  IFS=: read -r setup n rate delay phase <<< "$s"
  scenario "$setup" "$n" "$rate" "$delay" "${phase:-cold}"
done
stop_branch
"$py" "$here/report.py" table "$work/working-set.json" "$work/results.jsonl" | tee "$work/table.md"
if "$py" -c 'import matplotlib' 2>/dev/null; then
  "$py" "$here/report.py" plot "$work/working-set.json" "$work/results.jsonl" "$work/bootstorm.png"
  say "plot: $work/bootstorm.png"
fi
say "results: $work/results.jsonl, table: $work/table.md"
