#!/bin/bash
# shellcheck disable=SC2154,SC2044 # initdir, moddir: set by dracut; the runtime has no spaces in its paths
# dracut module: root filesystem from a branchboot image (the agent from /usr/lib/branchboot,
# attached with nbd-client). Install as /usr/lib/dracut/modules.d/90branchboot/ and build with
# `dracut --add branchboot`. Kernel parameters: see /usr/lib/branchboot/lib/branchboot-boot.sh;
# root=/dev/nbd0 plus rd.neednet=1 and ip=... for dracut's network module.

check() {
    require_binaries nbd-client || return 1
    [[ -x /usr/lib/branchboot/bin/branchboot-agent ]] || return 1
    return 255 # only when asked for (--add branchboot)
}

depends() {
    echo network
}

installkernel() {
    instmods nbd
}

install() {
    local f
    inst_multiple nbd-client blockdev cat mkdir sleep
    # ELF files with the libraries they need, then the rest of the runtime at the same path
    # (the AppCDS archive is only valid there)
    # (inst_library does not follow a library's own dependencies, e.g. libjvm.so's libstdc++)
    inst_binary /usr/lib/branchboot/bin/java
    for f in $(find /usr/lib/branchboot/lib -name '*.so'); do
        inst_library "$f"
        for dep in $(ldd "$f" 2>/dev/null | awk '/=> \// { print $3 }'); do
            inst_library "$dep"
        done
    done
    mkdir -p "$initdir/usr/lib/branchboot"
    cp -a -n /usr/lib/branchboot/. "$initdir/usr/lib/branchboot/"
    rm -f "$initdir/usr/lib/branchboot/lib/train.qcow2" # train-cds's image, not needed to boot
    # the publisher's public key, for branchboot.trust=/etc/branchboot/trust.pem
    [[ -f /etc/branchboot/trust.pem ]] && inst_simple /etc/branchboot/trust.pem
    inst_hook cmdline 90 "$moddir/parse-branchboot.sh"
    inst_script "$moddir/branchbootroot.sh" /sbin/branchbootroot
}
