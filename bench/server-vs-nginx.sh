#!/usr/bin/env bash
# Compares the branchboot server (origin mode) with nginx serving the same file, with the same
# client (wrk + range-request.lua) at 16 concurrent connections, runs alternating between the two:
#   - large ranges: 8 MiB random aligned ranges
#   - small ranges: 64 KiB random aligned ranges
# Prints per-run throughput, latency and CPU time per request, the medians, and the throughput
# ratio server/nginx (the figure the targets are about: >= 0.8x for large, >= 0.5x for small).
# Usage: bench/server-vs-nginx.sh [ROUNDS] [SECONDS_PER_RUN] [origin|branch|branch-signed]
#   (defaults 3, 10, origin)
#   branch: the server is a branch cache in front of the nginx, warm (the whole file cached before
#   anything is timed), so the comparison is the branch's serving from its cache against nginx.
#   branch-signed: the same with branchboot.trust-key set and the file signed (a manifest made by
#   the agent's `manifest` command, client-agent/target/branchboot-agent.jar), so every block was
#   checked when it was filled.
# Needs: nginx, wrk, curl (scripts/install-deps.sh), and a built server/target/branchboot-server.jar.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-10}
mode=${3:-origin}
connections=16
jar=server/target/branchboot-server.jar
[[ -f $jar ]] || mvn -B -q package -DskipTests -pl server -am
. bench/lib.sh

bench_workdir bench
trap 'echo "failed; nginx log:"; cat "$work/nginx/error.log" 2>/dev/null; tail -20 "$work/server.log" 2>/dev/null' ERR

# When run as root, nginx workers run as nobody and must be able to read the file.
chmod 755 "$work"
mkdir -p "$work/images" "$work/nginx"
file_size=$((1024 * 1024 * 1024))
head -c "$file_size" /dev/urandom > "$work/images/bench.img"
cat "$work/images/bench.img" > /dev/null   # both servers read from the page cache

nginx_port=$(free_port)
server_port=$(free_port)

# nginx as it would be deployed for static files: one worker per core, sendfile, long keep-alive.
bench_nginx "$work/nginx" "$nginx_port" "$work/images" "" "worker_processes auto;" "tcp_nopush on;"
if [[ $mode == branch-signed ]]; then
  openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
  openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem"
  java -jar client-agent/target/branchboot-agent.jar manifest "$work/images/bench.img" --sign-key "$work/key.pem" >&2
  chmod 644 "$work/images/bench.img.manifest"
fi
if [[ $mode == branch* ]]; then
  serve=(--branchboot.upstreams="http://127.0.0.1:$nginx_port/images" --branchboot.cache.dir="$work/cache")
  [[ $mode == branch-signed ]] && serve+=(--branchboot.trust-key="$work/pub.pem")
else
  serve=(--branchboot.images-dir="$work/images")
fi
java -jar "$jar" "${serve[@]}" --server.address=127.0.0.1 --server.port="$server_port" \
  > "$work/server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 1 120); do
  curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" || { sleep 0.5; continue; }
  curl -sf -o /dev/null "http://127.0.0.1:$server_port/actuator/health/readiness" && break
  sleep 0.5
done

nginx_url="http://127.0.0.1:$nginx_port/images/bench.img"
server_url="http://127.0.0.1:$server_port/images/bench.img"
if [[ $mode == branch* ]]; then
  # Fill the cache, and wait until every block is stored, so each timed read is a hit.
  curl -sf -o /dev/null "$server_url"
  until curl -sf "http://127.0.0.1:$server_port/actuator/prometheus" |
    awk -v size="$file_size" '$1 ~ /^branchboot_cache_cached_bytes([{]|$)/ && $NF + 0 >= size { found = 1 } END { exit !found }'; do
    sleep 0.5
  done
fi
# Same bytes, same validators, before anything is timed.
for range in 0-65535 123456789-132145396; do
  cmp <(curl -sf -r "$range" "$nginx_url") <(curl -sf -r "$range" "$server_url")
done
# A branch passes nginx's ETag on; an origin's own starts with nginx's two fields (README, "ETag").
nginx_etag=$(curl -sfI "$nginx_url" | awk 'tolower($1) == "etag:" { print $2 }' | tr -d '\r"')
server_etag=$(curl -sfI "$server_url" | awk 'tolower($1) == "etag:" { print $2 }' | tr -d '\r"')
[[ $server_etag == "$nginx_etag" || $server_etag == "$nginx_etag"-* ]]

# CPU time (user + system, clock ticks) of processes: the machine is shared, so throughput alone
# swings with other load; CPU time per request shows each server's own cost.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
clock_ticks=$(getconf CLK_TCK)

run() { # url range_size seconds pids... -> "MiB/s req/s p50_ms p99_ms cpu_us_per_request"
  local url=$1 size=$2 secs=$3 out before after
  shift 3
  before=$(cpu_ticks "$@")
  out=$(BENCH_FILE_SIZE=$file_size BENCH_RANGE_SIZE=$size wrk -t2 -c"$connections" -d"${secs}s" -s bench/range-request.lua "$url" | grep '^RESULT')
  after=$(cpu_ticks "$@")
  python3 - "$out" "$((after - before))" "$clock_ticks" <<'PY'
import sys
f = dict(kv.split("=") for kv in sys.argv[1].split()[1:])
if int(f["errors"]) or int(f["non2xx"]):
    sys.exit("errors in run: " + sys.argv[1])
d = int(f["duration_us"]) / 1e6
cpu_us = int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / max(int(f["requests"]), 1)
print(f"{int(f['bytes']) / d / 2**20:.1f} {int(f['requests']) / d:.0f} {int(f['p50_us']) / 1000:.2f} "
      f"{int(f['p99_us']) / 1000:.2f} {cpu_us:.0f}")
PY
}

# JIT warm-up: the JVM reaches full speed only after some 100k requests (and nginx gets a short run
# too, to treat the two alike); not recorded.
nginx_pids=("$nginx_pid" $(pgrep -P "$nginx_pid"))
run "$server_url" $((64 * 1024)) 20 "$server_pid" > /dev/null
run "$server_url" $((8 * 1024 * 1024)) 5 "$server_pid" > /dev/null
run "$nginx_url" $((64 * 1024)) 3 "${nginx_pids[@]}" > /dev/null

declare -A results
for scenario in large small; do
  size=$((64 * 1024)); [[ $scenario == large ]] && size=$((8 * 1024 * 1024))
  for round in $(seq 1 "$rounds"); do
    for target in nginx server; do
      if [[ $target == server ]]; then
        r=$(run "$server_url" "$size" "$seconds" "$server_pid")
      else
        r=$(run "$nginx_url" "$size" "$seconds" "${nginx_pids[@]}")
      fi
      echo "$scenario round $round $target: MiB/s req/s p50_ms p99_ms cpu_us/request = $r"
      results[$scenario-$target]+="$r;"
    done
  done
done

python3 - "${results[large-nginx]}" "${results[large-server]}" "${results[small-nginx]}" "${results[small-server]}" <<'PY'
import statistics, sys
def med(s, i): return statistics.median(float(r.split()[i]) for r in s.strip(";").split(";"))
names = ["large ranges (8 MiB)", "small ranges (64 KiB)"]
targets = [0.8, 0.5]
print()
print("| scenario | nginx MiB/s | server MiB/s | nginx req/s | server req/s | throughput ratio | target | nginx CPU µs/req | server CPU µs/req |")
print("|---|---|---|---|---|---|---|---|---|")
for k, (n, s) in enumerate([(sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])]):
    ratio = med(s, 0) / med(n, 0)
    print(f"| {names[k]} | {med(n,0):.0f} | {med(s,0):.0f} | {med(n,1):.0f} | {med(s,1):.0f} | {ratio:.2f}x | >= {targets[k]}x "
          f"| {med(n,4):.0f} | {med(s,4):.0f} |")
PY
