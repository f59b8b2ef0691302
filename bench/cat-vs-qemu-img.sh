#!/usr/bin/env bash
# Benchmark: `branchboot-agent cat IMAGE -o FILE` against `qemu-img convert -O raw IMAGE FILE` on the
# same 256 MiB image (zlib and zstd), JVM start-up included, runs alternating, medians compared.
#
#   bench/cat-vs-qemu-img.sh [RUNS]        (default 7 runs of each tool per image)
#
# Prints a Markdown table; the ratio is qemu-img's median time over the agent's (above 1: agent faster).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
work=bench/work/cat
mkdir -p "$work"
jar=client-agent/target/branchboot-agent.jar
if [[ ! -f $jar || ! -d testkit/target/classes ]]; then
  mvn -q -B package -DskipTests
fi
if [[ ! -f $work/mixed-256m.raw ]]; then
  java -cp testkit/target/classes dev.branchboot.testkit.ConformanceImages "$work/mixed-256m.raw" 256 6
fi
for type in zlib zstd; do
  [[ -f $work/$type.qcow2 ]] || qemu-img convert -c -f raw -O qcow2 -o compression_type=$type "$work/mixed-256m.raw" "$work/$type.qcow2"
done

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "| image | file size | qemu-img convert median (ms) | agent cat median (ms) | speed ratio (qemu/agent) | runs |"
echo "|---|---|---|---|---|---|"
for type in zlib zstd; do
  image=$work/$type.qcow2
  : > "$work/$type.qemu.ms"
  : > "$work/$type.agent.ms"
  for ((i = 0; i < runs; i++)); do
    for tool in $( ((i % 2)) && echo "agent qemu" || echo "qemu agent"); do
      rm -f "$work/out.$tool.raw"
      start=$(now)
      if [[ $tool == qemu ]]; then
        qemu-img convert -O raw "$image" "$work/out.qemu.raw"
      else
        java -jar "$jar" cat "$image" -o "$work/out.agent.raw"
      fi
      echo $((($(now) - start) / 1000000)) >> "$work/$type.$tool.ms"
    done
  done
  cmp "$work/out.qemu.raw" "$work/out.agent.raw" || { echo "outputs differ for $type" >&2; exit 1; }
  q=$(median < "$work/$type.qemu.ms")
  a=$(median < "$work/$type.agent.ms")
  size=$(stat -c %s "$image")
  echo "| 256 MiB virtual, $type | $((size / 1048576)) MiB | $q | $a | $(awk -v q="$q" -v a="$a" 'BEGIN {printf "%.2f", q / a}') | $runs |"
  rm -f "$work/out.qemu.raw" "$work/out.agent.raw"
done
