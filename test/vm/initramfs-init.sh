#!/bin/sh
# /init of the test's minimal initramfs (busybox): branchboot_start, network, branchboot_go and _wait, mount the root from
# /dev/nbd0, switch_root. The same library the initramfs-tools script and dracut module source.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mkdir -p /proc /sys /dev /run /tmp /root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755,nodev,nosuid tmpfs /run
up() { cut -d' ' -f1 /proc/uptime; }
echo "branchboot-test-initramfs: start at $(up) s"
. /usr/lib/branchboot/lib/branchboot-boot.sh
fail() {
  echo "branchboot-test-initramfs: FAILED: $*"
  ls -l /dev/nbd0 /sys/block/nbd0/ 2>&1; grep -E 'ext4|nbd' /proc/filesystems /proc/modules; cat /proc/partitions
  poweroff -f
}
branchboot_parse_cmdline || fail "no branchboot.server= / branchboot.image= on the command line"
echo /bin/modprobe > /proc/sys/kernel/modprobe
modprobe nbd
ref=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^branchboot-test.qemu-nbd=//p')
# the root's agent starts first: its JVM starts while the modules load and the network comes up
[ -n "$ref" ] || branchboot_start
modprobe virtio_pci; modprobe virtio_net; modprobe crc32c_generic; modprobe ext4
ip link set lo up
ip link set eth0 up || fail "no eth0"
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
if grep -q 'branchboot-test.detach' /proc/cmdline; then
  # attach and detach a second device (read-only, the same image) before the root: the agent's
  # attach/detach pair against the real kernel driver
  mkdir -p /mnt
  /usr/lib/branchboot/bin/branchboot-agent attach --device /dev/nbd1 --image "$BRANCHBOOT_IMAGE" \
    --server "${BRANCHBOOT_SERVERS%%,*}" --cow none </dev/null >/dev/console 2>&1 &
  second=$!
  i=0
  while [ ! -e /sys/block/nbd1/pid ] && kill -0 "$second" 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
  [ -e /sys/block/nbd1/pid ] || fail "attach /dev/nbd1"
  mount -t ext4 -o ro,noload /dev/nbd1 /mnt || fail "mount /dev/nbd1"
  echo "BRANCHBOOT-NBD1 payload md5=$(md5sum /mnt/payload.dat | cut -d' ' -f1)"
  umount /mnt
  /usr/lib/branchboot/bin/branchboot-agent detach --device /dev/nbd1 </dev/null >/dev/console 2>&1 || fail "detach /dev/nbd1"
  wait "$second"
  status=$?
  if [ ! -e /sys/block/nbd1/pid ]; then echo "BRANCHBOOT-DETACH-OK agent-exit=$status"; fi
fi
if [ -n "$ref" ]; then
  # the reference boot: the same image exported by qemu-nbd on the host, no agent in the guest
  t0=$(up)
  nbd-client "${ref%%:*}" "${ref#*:}" /dev/nbd0 -N img -b 512 -t 360 -systemd-mark || fail "nbd-client to qemu-nbd"
  BRANCHBOOT_PID=none
  echo "branchboot: /dev/nbd0 connected: agent pid none started at $t0 s, device connected at $(up) s (uptime)"
else
  t0=$BRANCHBOOT_T_START
  branchboot_go
  branchboot_wait || fail "attach"
fi
t1=$(up)
echo "BRANCHBOOT-ATTACHED device=$BRANCHBOOT_DEVICE pid=$BRANCHBOOT_PID agent_start=$t0 connected=$t1"
mount -t ext4 -o rw "$BRANCHBOOT_DEVICE" /root || fail "mount $BRANCHBOOT_DEVICE"
mount --move /run /root/run
exec switch_root /root /sbin/init
