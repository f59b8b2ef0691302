# Shared by the agent benchmarks (source it from the repository root, under `set -euo pipefail`).

# bench_zlib_image DIR: DIR/zlib.qcow2, the benchmarks' image, made once: 256 MiB virtual of mixed
# content (testkit's ConformanceImages, seed 6) compressed with zlib by qemu-img.
bench_zlib_image() {
  local dir=$1
  mkdir -p "$dir"
  if [[ ! -f $dir/zlib.qcow2 ]]; then
    java -cp testkit/target/classes dev.branchboot.testkit.ConformanceImages "$dir/mixed-256m.raw" 256 6
    qemu-img convert -c -f raw -O qcow2 -o compression_type=zlib "$dir/mixed-256m.raw" "$dir/zlib.qcow2"
    rm -f "$dir/mixed-256m.raw"
  fi
}

# bench_workdir NAME: sets `work` to a fresh temporary folder and `pids` to an empty list; on exit
# every pid in `pids` is killed and the folder removed.
bench_workdir() {
  work=$(mktemp -d "/tmp/branchboot-$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# free_port: a loopback TCP port nobody listens on right now.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
