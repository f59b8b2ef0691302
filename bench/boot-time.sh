#!/usr/bin/env bash
# The busybox VM boot through the agent against the same boot through qemu-nbd on the host, in one
# run, alternating: test/vm-boot.sh busybox (without its /dev/nbd1 check, BRANCHBOOT_VM_NBD1_CHECK=0)
# and test/vm-boot.sh busybox-qemu-nbd, ROUNDS times. With RUNTIMES (boot runtime folders, as
# build-runtime.sh makes them) each of them boots in turn in every round, copied over
# boot/target/branchboot-runtime (which is restored at the end); without, the current build boots.
# Prints, per boot, the guest's uptimes (from the kernel's start): /init runs, the agent (or
# nbd-client) starts, the device is connected, userspace runs on it; then the medians per route
# and their ratio to the reference's time to userspace.
# Usage: bench/boot-time.sh [ROUNDS]   (default 2; about 40 s per boot; needs what test/vm-boot.sh
# needs and a built agent, server and boot runtime)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
runtime=boot/target/branchboot-runtime
[[ -x $runtime/bin/branchboot-agent ]] || { echo "boot-time: no boot runtime; run mvn -B -DskipTests package" >&2; exit 1; }
work=bench/work/boot-time
mkdir -p "$work"
read -r -a runtimes <<< "${RUNTIMES:-}"
if ((${#runtimes[@]})); then
  rm -rf "$work/built-runtime"
  cp -a "$runtime" "$work/built-runtime"
  trap 'rm -rf "$runtime"; mv "$work/built-runtime" "$runtime"' EXIT
fi
results=$work/results.txt
: > "$results"

# boot LABEL MODE: one boot; appends "LABEL init start connected userspace" to the results
boot() {
  local label=$1 mode=$2 log=$work/$1.log console=target/vm-boot/$2.console.log
  BRANCHBOOT_VM_NBD1_CHECK=0 bash test/vm-boot.sh "$mode" > "$log" 2>&1 ||
    { tail -n 30 "$log" >&2; echo "boot-time: $mode ($label) failed; log: $log" >&2; exit 1; }
  local init start connected userspace
  init=$(sed -n 's/.*branchboot-test-initramfs: start at \([0-9.]*\) s.*/\1/p' "$console" | head -1)
  start=$(grep -a -o 'BRANCHBOOT-ATTACHED .*agent_start=[0-9.]*' "$console" | head -1 | sed 's/.*agent_start=//')
  connected=$(grep -a -o 'BRANCHBOOT-ATTACHED .*connected=[0-9.]*' "$console" | head -1 | sed 's/.*connected=//')
  userspace=$(grep -a -o 'BRANCHBOOT-USERSPACE .*uptime=[0-9.]*' "$console" | head -1 | sed 's/.*uptime=//')
  echo "$label $init $start $connected $userspace" | tee -a "$results"
}

echo "# route /init started connected userspace (guest uptime, s)"
for round in $(seq "$rounds"); do
  boot qemu-nbd busybox-qemu-nbd
  if ((${#runtimes[@]})); then
    for r in "${runtimes[@]}"; do
      rm -rf "$runtime"
      cp -a "$r" "$runtime"
      boot "agent:$(basename "$r")" busybox
    done
  else
    boot agent busybox
  fi
done

echo
echo "| route | /init | started | connected | userspace | started → connected | connected → userspace | userspace / qemu-nbd's |"
echo "|---|---|---|---|---|---|---|---|"
awk '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
    init[$1] = init[$1] " " $2; start[$1] = start[$1] " " $3; conn[$1] = conn[$1] " " $4; user[$1] = user[$1] " " $5
    up[$1] = up[$1] " " ($4 - $3); down[$1] = down[$1] " " ($5 - $4) }
  END {
    reference = median(user["qemu-nbd"])
    for (i = 1; i <= n; i++) {
      r = order[i]
      printf "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2fx |\n", r, median(init[r]), median(start[r]), median(conn[r]),
        median(user[r]), median(up[r]), median(down[r]), median(user[r]) / reference
    }
  }' "$results"
