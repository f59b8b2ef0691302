#!/bin/sh
# /sbin/init of the test's busybox root filesystem (on the streamed image): prints markers for
# test/vm-boot.sh, writes a file into the overlay and reads it back past the page cache, then
# remounts the root read-only (the agent keeps serving) and powers off.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
. /etc/branchboot-guest-checks.sh
branchboot_guest_checks
mount -o remount,ro / && echo "BRANCHBOOT-ROOT-READONLY"
sync
echo "BRANCHBOOT-POWEROFF uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
