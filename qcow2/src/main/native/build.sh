#!/usr/bin/env bash
# Builds the libdeflate JNI library into OUT_DIR (qcow2's target/classes/native/linux-amd64), linked
# statically with libdeflate. Optional: without gcc or libdeflate's headers (Debian: gcc,
# libdeflate-dev) it says so and builds nothing, and the reader decodes deflate with zlib instead.
set -euo pipefail
out_dir=$1
here=$(cd "$(dirname "$0")" && pwd)
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
  echo "branchboot-deflate: not Linux x86_64; deflate is decoded with zlib" >&2
  exit 0
fi
if ! command -v gcc > /dev/null || [[ ! -f /usr/include/libdeflate.h ]]; then
  echo "branchboot-deflate: WARNING: gcc or libdeflate-dev is missing; deflate is decoded with zlib (slower)." \
    "Install them (scripts/install-deps.sh) for the fast decoder." >&2
  exit 0
fi
mkdir -p "$out_dir"
gcc -O2 -Wall -Wextra -Werror -shared -fPIC -I"$java_home/include" -I"$java_home/include/linux" \
  "$here/branchboot_deflate.c" -o "$out_dir/libbranchboot-deflate.so.part" \
  -Wl,-Bstatic -ldeflate -Wl,-Bdynamic -Wl,--as-needed
mv "$out_dir/libbranchboot-deflate.so.part" "$out_dir/libbranchboot-deflate.so"
