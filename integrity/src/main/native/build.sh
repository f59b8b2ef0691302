#!/usr/bin/env bash
# Builds the SHA-256 JNI library (SHA extensions) into OUT_DIR (integrity's
# target/classes/native/linux-amd64). Optional: without gcc it says so and builds nothing, and
# block digests are computed by Java's SHA-256 instead.
set -euo pipefail
out_dir=$1
here=$(cd "$(dirname "$0")" && pwd)
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
  echo "branchboot-sha256: not Linux x86_64; block digests use Java's SHA-256" >&2
  exit 0
fi
if ! command -v gcc > /dev/null; then
  echo "branchboot-sha256: WARNING: gcc is missing; block digests use Java's SHA-256 (slower under C1)." \
    "Install it (scripts/install-deps.sh) for the fast digests." >&2
  exit 0
fi
mkdir -p "$out_dir"
gcc -O2 -Wall -Wextra -Werror -shared -fPIC -I"$java_home/include" -I"$java_home/include/linux" \
  "$here/branchboot_sha256.c" -o "$out_dir/libbranchboot-sha256.so.part" -Wl,--as-needed
mv "$out_dir/libbranchboot-sha256.so.part" "$out_dir/libbranchboot-sha256.so"
