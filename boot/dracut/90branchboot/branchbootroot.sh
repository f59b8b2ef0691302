#!/bin/sh
# dracut netroot handler (called as: branchbootroot INTERFACE NETROOT NEWROOT once the network is
# up): starts the agent and attaches the image. The agent runs with argv[0] "@branchboot-agent", so
# systemd's killing at switch-root and shutdown spares it.
. /lib/dracut-lib.sh
. /usr/lib/branchboot/lib/branchboot-boot.sh
[ -e "/sys/block/nbd0/pid" ] && exit 0
branchboot_parse_cmdline || exit 0
modprobe nbd
if ! branchboot_attach; then
    warn "branchboot: could not attach $BRANCHBOOT_IMAGE (agent log: $BRANCHBOOT_LOG)"
    exit 1
fi
blockdev --rereadpt "$BRANCHBOOT_DEVICE" 2>/dev/null || true
# systemd's udev rules keep an nbd device "not ready" until it is connected; a change event makes
# udev look again, so that dev-nbd0.device (and the root mount waiting on it) starts
echo change > "/sys/block/${BRANCHBOOT_DEVICE#/dev/}/uevent"
# No need_shutdown: returning to the initramfs at shutdown would have dracut kill the agent before
# it unmounts the old root. systemd-shutdown remounts / read-only and powers off with the agent
# still serving, as with initramfs-tools.
exit 0
