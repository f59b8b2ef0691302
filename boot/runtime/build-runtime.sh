#!/usr/bin/env bash
# Builds the agent's runtime for initramfs and installed systems (run by `mvn package` in boot/):
#   OUT/bin/java              jlink'd JDK with only the modules in modules.txt, default CDS archive
#   OUT/bin/@branchboot-agent symlink to java: the process name systemd spares (see the launcher)
#   OUT/bin/branchboot-agent  the launcher (POSIX sh) with the JVM flags
#   OUT/lib/branchboot-agent.jar, OUT/lib/libzstd-jni.so, OUT/lib/libbranchboot-deflate.so,
#                             OUT/lib/libbranchboot-sha256.so (unpacked once, not into /tmp at each start)
#   OUT/lib/branchboot-agent.aot  AOT cache of the classes the boot path (`train`) loads and links (JDK 25+)
#   OUT/lib/branchboot-agent.jsa  or, on a JDK 17 runtime, an AppCDS archive of them
#   OUT/lib/branchboot-boot.sh    the boot library (kernel parameters, attach) for initramfs scripts
#   OUT/bin/train-cds         remakes the class archive after the runtime is moved
#   OUT/lib/train.qcow2       the small image train-cds trains on
# Usage: build-runtime.sh AGENT_JAR OUT_DIR
# The runtime's JDK: BRANCHBOOT_RUNTIME_JDK if set; else the newest JDK 25 or later in /usr/lib/jvm
# whose jlink can link (its AOT cache starts the agent about twice as fast as JDK 17's AppCDS);
# else JAVA_HOME's (the JDK that builds the agent, 17). The agent's classes are Java 17 either way.
set -euo pipefail
jar=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
[[ -f $jar ]] || { echo "build-runtime: $jar is missing (build client-agent first)" >&2; exit 1; }
build_jdk=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}

# The feature version of the JDK in $1 (25 for JAVA_VERSION="25.0.3"), 0 if unknown.
feature_version() {
  sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2>/dev/null | grep . || echo 0
}

# jlinks the agent's modules from the JDK in $1 into $out. No jimage compression: the initramfs is
# compressed as a whole anyway, and compressed classes cost CPU at every class load, which
# matters under emulation and on slow PCs. (JDK 21 renamed --compress=0 to zip-0.)
link_runtime() {
  local jdk=$1 compress=0
  (( $(feature_version "$jdk") >= 21 )) && compress=zip-0
  rm -rf "$out"
  "$jdk/bin/jlink" --add-modules "$(tr -d ' \n' < "$here/modules.txt")" --strip-debug --no-man-pages \
    --no-header-files --compress=$compress --generate-cds-archive --output "$out" > "$out.jlink.log" 2>&1
}

mkdir -p "$(dirname "$out")"
linked=""
if [[ -n ${BRANCHBOOT_RUNTIME_JDK:-} ]]; then
  [[ -x $BRANCHBOOT_RUNTIME_JDK/bin/jlink ]] || { echo "build-runtime: no jlink in BRANCHBOOT_RUNTIME_JDK=$BRANCHBOOT_RUNTIME_JDK" >&2; exit 1; }
  link_runtime "$BRANCHBOOT_RUNTIME_JDK" || { cat "$out.jlink.log" >&2; echo "build-runtime: jlink of $BRANCHBOOT_RUNTIME_JDK failed" >&2; exit 1; }
  linked=$BRANCHBOOT_RUNTIME_JDK
else
  # newest first; a JDK without jmods links only if it was built as a linkable runtime (JEP 493)
  for jdk in $(for d in /usr/lib/jvm/*/; do d=${d%/}; [[ -x $d/bin/jlink && ! -L $d ]] && echo "$(feature_version "$d") $d"; done | sort -rn | awk '$1 >= 25 { print $2 }'); do
    if link_runtime "$jdk"; then linked=$jdk; break; fi
    echo "build-runtime: jlink of $jdk failed ($(tail -1 "$out.jlink.log")); trying the next JDK" >&2
  done
fi
if [[ -z $linked ]]; then
  [[ -x $build_jdk/bin/jlink ]] || { echo "build-runtime: no jlink in $build_jdk (set JAVA_HOME to a JDK 17)" >&2; exit 1; }
  [[ -d $build_jdk/jmods ]] || { echo "build-runtime: $build_jdk/jmods is missing (Debian: apt-get install openjdk-17-jmods)" >&2; exit 1; }
  link_runtime "$build_jdk" || { cat "$out.jlink.log" >&2; exit 1; }
  linked=$build_jdk
fi
rm -f "$out.jlink.log"
echo "build-runtime: runtime linked from $linked (Java $(feature_version "$out"))"
rm -f "$out/bin/keytool"
mkdir -p "$out/lib"
cp "$jar" "$out/lib/branchboot-agent.jar"
unzip -p "$jar" "linux/amd64/libzstd-jni-*.so" > "$out/lib/libzstd-jni.so"
[[ -s $out/lib/libzstd-jni.so ]] || { echo "build-runtime: no linux/amd64 zstd-jni library in $jar" >&2; exit 1; }
# The libdeflate decoder (statically linked: needs only libc). A jar built without gcc has none;
# the agent then decodes deflate with zlib.
unzip -p "$jar" "native/linux-amd64/libbranchboot-deflate.so" > "$out/lib/libbranchboot-deflate.so" 2>/dev/null || true
if [[ ! -s $out/lib/libbranchboot-deflate.so ]]; then
  rm -f "$out/lib/libbranchboot-deflate.so"
  echo "build-runtime: WARNING: no libdeflate decoder in $jar; the agent decodes deflate with zlib" >&2
fi
# The SHA-256 block digests with the CPU's SHA extensions (needs only libc): C1 alone hashes about
# ten times slower. A jar built without gcc has none; the agent then checks blocks with Java's.
unzip -p "$jar" "native/linux-amd64/libbranchboot-sha256.so" > "$out/lib/libbranchboot-sha256.so" 2>/dev/null || true
if [[ ! -s $out/lib/libbranchboot-sha256.so ]]; then
  rm -f "$out/lib/libbranchboot-sha256.so"
  echo "build-runtime: WARNING: no native SHA-256 in $jar; a signed image's blocks are checked with Java's SHA-256" >&2
fi
# The zstd-jni libraries of every other platform are dead weight in the jar (4-5 MiB): the
# launcher points zstd-jni at the unpacked one (-DZstdNativePath).
if command -v zip >/dev/null; then
  zip -q -d "$out/lib/branchboot-agent.jar" 'aix/*' 'darwin/*' 'freebsd/*' 'linux/*' 'win/*' || true
fi
rm -f "$out/lib/server/classes_nocoops.jsa" # only for heaps over 32 GiB
# The symbol table of libjvm.so (5 MiB of its 30 in Temurin 25) serves only symbolic frames in a
# crash report (the dynamic symbols that linking needs stay).
if command -v strip >/dev/null; then strip --strip-unneeded "$out/lib/server/libjvm.so"; fi
ln -s java "$out/bin/@branchboot-agent"
install -m 0755 "$here/branchboot-agent" "$out/bin/branchboot-agent"
# the boot library the initramfs-tools script, the dracut module and the test source
install -m 0644 "$here/../lib/branchboot-boot.sh" "$out/lib/branchboot-boot.sh"

# The class archive: a training run of the boot path (`branchboot-agent train`: HTTP open, NBD
# export, reads and a write) records the classes it loads. The archive is only valid for this jar at
# this path; moved elsewhere the JVM ignores it and starts without it, slower: run bin/train-cds
# again there, which trains on lib/train.qcow2.
install -m 0755 "$here/train-cds" "$out/bin/train-cds"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if command -v qemu-img >/dev/null && command -v mkfs.ext4 >/dev/null; then
  # text (zstd clusters) and 256 KiB of noise (clusters qemu-img leaves uncompressed)
  mkdir "$work/files" && cp "$here"/* "$work/files/"
  head -c 262144 /dev/urandom > "$work/files/noise"
  mkfs.ext4 -q -b 4096 -d "$work/files" "$work/disk.raw" 16M > /dev/null
  qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd "$work/disk.raw" "$out/lib/train.qcow2"
fi
"$out/bin/train-cds"
# An AOT cache holds the JDK's classes as well, and a JVM given one never falls back to the default
# CDS archive (a stale cache means no archive at all): the default one is dead weight then.
if [[ -f $out/lib/branchboot-agent.aot ]]; then rm -f "$out/lib/server/classes.jsa"; fi
echo "build-runtime: $out ($(du -sh "$out" | cut -f1))"
