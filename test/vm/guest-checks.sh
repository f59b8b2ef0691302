# Sourced by both test roots' check scripts (installed as /etc/branchboot-guest-checks.sh): the
# markers test/vm-boot.sh looks for on the console, the same for every kind of root.
# branchboot_guest_checks: the root device, the agent still alive after switch_root (its argv[0]
# and OOM score), a file and 8 MiB written into the overlay and read back past the page cache,
# and the md5 of a payload made on the host, whose bytes crossed HTTP, QCOW2 and NBD.
branchboot_guest_checks() {
  root=$(awk '$2 == "/" { print $1 }' /proc/mounts | tail -n 1)
  echo "BRANCHBOOT-USERSPACE root=$root uptime=$(cut -d' ' -f1 /proc/uptime) image-id=$(cat /etc/branchboot-image-id)"
  agent=$(cat /run/branchboot/agent.pid 2>/dev/null)
  if [ -n "$agent" ] && kill -0 "$agent" 2>/dev/null; then
    echo "BRANCHBOOT-AGENT-ALIVE pid=$agent argv0=$(tr '\0' '\n' < "/proc/$agent/cmdline" | head -n 1) oom_score_adj=$(cat "/proc/$agent/oom_score_adj")"
  fi
  token=$(cat /proc/sys/kernel/random/uuid)
  echo "$token" > /overlay-test.txt
  dd if=/dev/urandom of=/overlay-big.bin bs=1M count=8 2>/dev/null
  sum1=$(md5sum /overlay-big.bin | cut -d' ' -f1)
  sync
  echo 3 > /proc/sys/vm/drop_caches
  back=$(cat /overlay-test.txt)
  sum2=$(md5sum /overlay-big.bin | cut -d' ' -f1)
  if [ "$back" = "$token" ] && [ "$sum1" = "$sum2" ]; then
    echo "BRANCHBOOT-OVERLAY-OK token=$token md5=$sum2"
  else
    echo "BRANCHBOOT-OVERLAY-BAD wrote=$token read=$back md5 $sum1 vs $sum2"
  fi
  echo "BRANCHBOOT-PAYLOAD md5=$(md5sum /payload.dat | cut -d' ' -f1)"
}
