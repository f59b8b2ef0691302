# shellcheck shell=bash
# Shared by the benchmarks (source it from the repository root, under `set -euo pipefail`).

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

# bench_trace_image: bench/work/trace-image/boot.qcow2, made once: the clusters the recorded Debian
# boot (bench/bootstorm/traces) reads, filled by bench/trace-image.py, as a zstd QCOW2 (qemu-img).
bench_trace_image() {
  local dir=bench/work/trace-image
  mkdir -p "$dir"
  if [[ ! -f $dir/boot.qcow2 ]]; then
    /usr/bin/python3 bench/trace-image.py bench/bootstorm/traces/debian-bookworm-boot.trace.gz "$dir/boot.raw" >&2
    qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd "$dir/boot.raw" "$dir/boot.qcow2"
    rm -f "$dir/boot.raw"
  fi
}

# bench_nginx_slice_conf DIR LISTEN UPSTREAM: writes DIR/nginx.conf, an nginx proxy cache as a site
# would configure one in front of UPSTREAM (host:port): the slice module's 1 MiB slices, a cache lock
# (single flight), listening on LISTEN (address:port); its cache, temp files and error log in DIR.
bench_nginx_slice_conf() {
  local dir=$1 listen=$2 upstream=$3
  rm -rf "$dir"
  mkdir -p "$dir/cache"
  cat > "$dir/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  proxy_cache_path $dir/cache levels=1:2 keys_zone=images:10m max_size=10g inactive=1d use_temp_path=off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 1000000;
  server {
    listen $listen;
    location /images/ {
      slice 1m;
      proxy_cache images;
      proxy_cache_key \$uri\$slice_range;
      proxy_set_header Range \$slice_range;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache_valid 200 206 1d;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 60s;
      proxy_pass http://$upstream;
    }
  }
}
CONF
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

# bench_nginx DIR PORT IMAGES [LOG_FORMAT [MAIN_DIRECTIVES [HTTP_DIRECTIVES]]]: starts an nginx in the
# background on 127.0.0.1:PORT serving the folder IMAGES at /images/ (sendfile, long keep-alive), its
# config, temp files and error log in DIR; sets `nginx_pid` and adds it to `pids`. With LOG_FORMAT
# (nginx variables, e.g. '$status $body_bytes_sent') each request is logged to DIR/access.log, else
# nothing is. MAIN_DIRECTIVES (default: one process, "master_process off;") go into the main block,
# HTTP_DIRECTIVES into the http block.
bench_nginx() {
  local dir=$1 port=$2 images=$3 log_format=${4:-} main=${5:-"master_process off;"} http=${6:-} access="access_log off;"
  mkdir -p "$dir"
  if [[ -n $log_format ]]; then
    access="log_format bench '$log_format'; access_log $dir/access.log bench;"
  fi
  cat > "$dir/nginx.conf" <<CONF
daemon off;
$main
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  $access
  sendfile on;
  $http
  keepalive_requests 1000000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    location /images/ { alias $(realpath "$images")/; }
  }
}
CONF
  nginx -c "$dir/nginx.conf" -e "$dir/error.log" &
  nginx_pid=$!
  pids+=("$nginx_pid")
}
