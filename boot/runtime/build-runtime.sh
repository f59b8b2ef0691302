#!/usr/bin/env bash
# Builds the agent's runtime for initramfs and installed systems (run by `mvn package` in boot/):
#   OUT/bin/java              jlink'd JDK with only the modules in modules.txt, default CDS archive
#   OUT/bin/@branchboot-agent symlink to java: the process name systemd spares (see the launcher)
#   OUT/bin/branchboot-agent  the launcher (POSIX sh) with the JVM flags
#   OUT/lib/branchboot-agent.jar, OUT/lib/libzstd-jni.so, OUT/lib/libbranchboot-deflate.so,
#                             OUT/lib/libbranchboot-sha256.so (unpacked once, not into /tmp at each start)
#   OUT/lib/branchboot-agent.jsa  AppCDS archive of the classes a `serve` start-up loads
#   OUT/lib/branchboot-boot.sh    the boot library (kernel parameters, attach) for initramfs scripts
#   OUT/bin/train-cds         remakes the AppCDS archive after the runtime is moved
# Usage: build-runtime.sh AGENT_JAR OUT_DIR
set -euo pipefail
jar=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
jlink=$java_home/bin/jlink
[[ -x $jlink ]] || { echo "build-runtime: no jlink in $java_home (set JAVA_HOME to a JDK 17)" >&2; exit 1; }
[[ -d $java_home/jmods ]] || { echo "build-runtime: $java_home/jmods is missing (Debian: apt-get install openjdk-17-jmods)" >&2; exit 1; }
[[ -f $jar ]] || { echo "build-runtime: $jar is missing (build client-agent first)" >&2; exit 1; }

rm -rf "$out"
# No jimage compression: the initramfs is compressed as a whole anyway, and compressed classes
# cost CPU at every class load, which matters under emulation and on slow PCs.
"$jlink" --add-modules "$(tr -d ' \n' < "$here/modules.txt")" --strip-debug --no-man-pages --no-header-files \
  --compress=0 --generate-cds-archive --output "$out"
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
ln -s java "$out/bin/@branchboot-agent"
install -m 0755 "$here/branchboot-agent" "$out/bin/branchboot-agent"
# the boot library the initramfs-tools script, the dracut module and the test source
install -m 0644 "$here/../lib/branchboot-boot.sh" "$out/lib/branchboot-boot.sh"

# AppCDS: a training run of the start-up path (serve an image until ready, then SIGTERM) records
# the loaded application classes. The archive is only valid for this jar at this path; moved
# elsewhere the JVM ignores it (-Xshare:auto) and starts without it: run bin/train-cds again there.
install -m 0755 "$here/train-cds" "$out/bin/train-cds"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if command -v qemu-img >/dev/null && command -v mkfs.ext4 >/dev/null; then
  mkfs.ext4 -q -b 4096 "$work/disk.raw" 16M > /dev/null
  qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd "$work/disk.raw" "$work/train.qcow2"
  "$out/bin/train-cds" "$work/train.qcow2"
else
  "$out/bin/train-cds"
fi
echo "build-runtime: $out ($(du -sh "$out" | cut -f1))"
