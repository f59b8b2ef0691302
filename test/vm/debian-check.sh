#!/bin/sh
# Run by branchboot-test.service in the debootstrap root (on the streamed image): markers for
# test/vm-boot.sh, a file written into the overlay and read back past the page cache, then a normal
# systemd power-off (which must spare the agent and remount the root read-only before the end).
. /etc/branchboot-guest-checks.sh
branchboot_guest_checks
# The unit for installed systems: the same image, read-only, as /dev/nbd1; started, read, stopped.
server=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^branchboot.server=//p' | cut -d, -f1)
image=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^branchboot.image=//p')
mkdir -p /etc/branchboot /mnt
printf 'BRANCHBOOT_ARGS=--server %s --image %s --cow none\nBRANCHBOOT_HEAP=256m\n' "$server" "$image" > /etc/branchboot/nbd1.conf
# A partitioned image (root=/dev/nbd0p1) has its filesystem in nbd1's partition 1, which udev adds.
part=$(tr ' ' '\n' < /proc/cmdline | sed -n 's|^root=/dev/nbd0||p')
if systemctl start branchboot-agent@nbd1.service && { udevadm settle -t 10 || true; } &&
  mount -t ext4 -o ro,noload "/dev/nbd1$part" /mnt; then
  echo "BRANCHBOOT-UNIT-NBD1 payload md5=$(md5sum /mnt/payload.dat | cut -d' ' -f1) argv0=$(tr '\0' '\n' < "/proc/$(systemctl show -P MainPID branchboot-agent@nbd1.service)/cmdline" | head -n 1)"
  umount /mnt
fi
systemctl stop branchboot-agent@nbd1.service
echo "BRANCHBOOT-UNIT-STOPPED state=$(systemctl is-active branchboot-agent@nbd1.service) result=$(systemctl show -P Result branchboot-agent@nbd1.service) connected=$([ -e /sys/block/nbd1/pid ] && echo yes || echo no)"
journalctl -b -u branchboot-agent@nbd1.service --no-pager -o cat 2>/dev/null | tail -n 8
echo "BRANCHBOOT-POWEROFF uptime=$(cut -d' ' -f1 /proc/uptime)"
systemctl --no-block poweroff
