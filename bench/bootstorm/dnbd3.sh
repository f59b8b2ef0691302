# shellcheck shell=bash
# dnbd3 for bench/bootstorm/run.sh (sourced; uses its ns, say, die, work, set_delay's up_port idea):
# a dnbd3-server at the origin serving the raw image, a dnbd3-server in proxy mode at the branch
# (on demand: backgroundReplication=false; its default prefetch of min(3 x request, 256 KiB) on a
# miss), and at each PC dnbd3-fuse, whose file the replayer reads. Needs DNBD3_DIR: a dnbd3 build
# directory holding src/server/dnbd3-server and src/fuse/dnbd3-fuse (docs/benchmarks.md says how
# it was built; nothing of dnbd3 is in this repository).

dnbd3_bin() { echo "$DNBD3_DIR/src/$1/dnbd3-$1"; }

dnbd3_available() {
  [[ -n ${DNBD3_DIR:-} && -x $(dnbd3_bin server) && -x $DNBD3_DIR/src/fuse/dnbd3-fuse ]]
}

# The raw image under the origin's basePath as NAME.rRID (dnbd3's naming): debian, revision 1.
dnbd3_prepare_image() {
  dnbd3_available || return 0
  mkdir -p "$work/dnbd3/origin/images"
  ln -f "$1" "$work/dnbd3/origin/images/debian.r1"
}

dnbd3_config() { # DIR BASEPATH IS_PROXY
  mkdir -p "$1/conf" "$2"
  cat > "$1/conf/server.conf" <<CONF
[dnbd3]
listenPort=5003
basePath=$2
isProxy=$3
backgroundReplication=false
sparseFiles=true
autoFreeDiskSpaceDelay=-1
iScsiServer=false
serverPenalty=0
clientPenalty=0
[logging]
file=$1/dnbd3.log
consoleMask=ERROR WARNING
CONF
}

dnbd3_relay_pid=""
dnbd3_start_origin_and_proxy() { # RTT_MS
  local upstream=10.77.0.1:5003
  dnbd3_config "$work/dnbd3/origin" "$work/dnbd3/origin/images" false
  rm -rf "$work/dnbd3/branch"
  dnbd3_config "$work/dnbd3/branch" "$work/dnbd3/branch/cache" true
  (cd "$work/dnbd3/origin" && exec ip netns exec "$NS-origin" "$(dnbd3_bin server)" -n -c "$work/dnbd3/origin/conf") \
    > "$work/logs/dnbd3-origin.log" 2>&1 &
  dnbd3_origin_pid=$!
  if [[ $1 != 0 ]]; then
    ip netns exec "$NS-origin" "$py" "$here/delay-relay.py" 10.77.0.1:9003 127.0.0.1:5003 "$(($1 / 2))" > "$work/logs/dnbd3-relay.log" 2>&1 &
    dnbd3_relay_pid=$!
    upstream=10.77.0.1:9003
  fi
  # for=replication: the proxy's uplink, never handed to the PCs as a server of their own
  printf '[%s]\ncomment=origin\nfor=replication\n' "$upstream" > "$work/dnbd3/branch/conf/alt-servers"
  (cd "$work/dnbd3/branch" && exec ip netns exec "$NS-branch" "$(dnbd3_bin server)" -n -c "$work/dnbd3/branch/conf") \
    > "$work/logs/dnbd3-proxy.log" 2>&1 &
  dnbd3_proxy_pid=$!
  local i
  for i in $(seq 1 100); do
    ns branch curl -fsS -o /dev/null "http://127.0.0.1:5003/query?q=version" 2>/dev/null &&
      ns origin curl -fsS -o /dev/null "http://127.0.0.1:5003/query?q=version" 2>/dev/null && return 0
    sleep 0.1
  done
  die "the dnbd3 servers did not start (logs in $work/logs)"
}

dnbd3_mount_clients() { # N
  local i
  for ((i = 1; i <= $1; i++)); do
    mkdir -p "$work/mnt/c$i"
    # nsenter --net, not ip netns exec: the FUSE mount must be visible outside the PC's namespace.
    nsenter --net="/run/netns/$NS-c$i" "$DNBD3_DIR/src/fuse/dnbd3-fuse" -f -S -h 10.77.1.1:5003 -i debian \
      -l "$work/logs/dnbd3-fuse-c$i.log" "$work/mnt/c$i" > /dev/null 2>&1 &
    pc_pids+=($!)
  done
  for ((i = 1; i <= $1; i++)); do
    for _ in $(seq 1 100); do [[ -f $work/mnt/c$i/img ]] && break; sleep 0.1; done
    [[ -f $work/mnt/c$i/img ]] || die "dnbd3-fuse c$i did not mount"
  done
}

dnbd3_stop() {
  local m
  for m in "$work"/mnt/c*; do fusermount -u "$m" 2>/dev/null || fusermount -uz "$m" 2>/dev/null || true; done
  stop_pcs
  local p
  for p in $dnbd3_proxy_pid $dnbd3_origin_pid $dnbd3_relay_pid; do kill "$p" 2>/dev/null || true; done
  for p in $dnbd3_proxy_pid $dnbd3_origin_pid $dnbd3_relay_pid; do wait "$p" 2>/dev/null || true; done
  dnbd3_proxy_pid="" dnbd3_origin_pid="" dnbd3_relay_pid=""
}
