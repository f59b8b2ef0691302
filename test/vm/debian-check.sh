#!/bin/sh
# Run by branchboot-test.service in the debootstrap root (on the streamed image): markers for
# test/vm-boot.sh, a file written into the overlay and read back past the page cache, then a normal
# systemd power-off (which must spare the agent and remount the root read-only before the end).
root=$(awk '$2 == "/" { print $1 }' /proc/mounts | tail -n 1)
echo "BRANCHBOOT-USERSPACE root=$root uptime=$(cut -d' ' -f1 /proc/uptime) image-id=$(cat /etc/branchboot-image-id)"
agent=$(cat /run/branchboot/agent.pid 2>/dev/null)
if [ -n "$agent" ] && kill -0 "$agent" 2>/dev/null; then
  echo "BRANCHBOOT-AGENT-ALIVE pid=$agent argv0=$(tr '\0' '\n' < /proc/$agent/cmdline | head -n 1) oom_score_adj=$(cat /proc/$agent/oom_score_adj)"
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
# The unit for installed systems: the same image, read-only, as /dev/nbd1; started, read, stopped.
server=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^branchboot.server=//p' | cut -d, -f1)
image=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^branchboot.image=//p')
mkdir -p /etc/branchboot /mnt
printf 'BRANCHBOOT_ARGS=--server %s --image %s --cow none\nBRANCHBOOT_HEAP=256m\n' "$server" "$image" > /etc/branchboot/nbd1.conf
if systemctl start branchboot-agent@nbd1.service && mount -t ext4 -o ro,noload /dev/nbd1 /mnt; then
  echo "BRANCHBOOT-UNIT-NBD1 payload md5=$(md5sum /mnt/payload.dat | cut -d' ' -f1) argv0=$(tr '\0' '\n' < "/proc/$(systemctl show -P MainPID branchboot-agent@nbd1.service)/cmdline" | head -n 1)"
  umount /mnt
fi
systemctl stop branchboot-agent@nbd1.service
echo "BRANCHBOOT-UNIT-STOPPED state=$(systemctl is-active branchboot-agent@nbd1.service) result=$(systemctl show -P Result branchboot-agent@nbd1.service) connected=$([ -e /sys/block/nbd1/pid ] && echo yes || echo no)"
journalctl -b -u branchboot-agent@nbd1.service --no-pager -o cat 2>/dev/null | tail -n 8
echo "BRANCHBOOT-POWEROFF uptime=$(cut -d' ' -f1 /proc/uptime)"
systemctl --no-block poweroff
