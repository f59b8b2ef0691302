#!/bin/sh
# shellcheck disable=SC2034,SC2154 # netroot, rootok and hookdir belong to dracut
# dracut cmdline hook: with branchboot.server= and branchboot.image=, ask for the network and let
# dracut's netroot call /sbin/branchbootroot once an interface is up; the root device then only
# counts as there once the kernel has it connected.
. /usr/lib/branchboot/lib/branchboot-boot.sh
branchboot_parse_cmdline || return 0
netroot=branchboot
rootok=1
echo "rd.neednet=1" > /etc/cmdline.d/90branchboot.conf
[ -z "$root" ] && root="block:$BRANCHBOOT_DEVICE"
echo "[ -e /sys/block/${BRANCHBOOT_DEVICE#/dev/}/pid ]" > "$hookdir/initqueue/finished/branchboot.sh"
