#!/bin/sh
# /sbin/init of the test's busybox root filesystem (on the streamed image): prints markers for
# test/vm-boot.sh, writes a file into the overlay and reads it back past the page cache, then
# remounts the root read-only (the agent keeps serving) and powers off.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
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
# A file made on the host: its bytes cross HTTP, QCOW2 decompression and NBD; the host compares.
echo "BRANCHBOOT-PAYLOAD md5=$(md5sum /payload.dat | cut -d' ' -f1)"
mount -o remount,ro / && echo "BRANCHBOOT-ROOT-READONLY"
sync
echo "BRANCHBOOT-POWEROFF uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
