#!/usr/bin/env bash
# Boots Linux under qemu (TCG) with its root filesystem streamed from a branchboot origin server:
# kernel from Debian's package, a busybox root filesystem in a compressed QCOW2, an initramfs that
# starts the agent from the jlink'd runtime (boot/target/branchboot-runtime) and attaches /dev/nbd0.
# Checks the guest reached userspace on /dev/nbd0, wrote a file into its overlay and read it back,
# read a host-made file with the right bytes, and shut down without I/O errors on nbd0. Prints the
# boot time and the bytes the server sent.
#
# Usage: test/vm-boot.sh [MODE]  (run `mvn -B -DskipTests package` first; MODE busybox by default)
#   busybox: the test's own minimal initramfs (test/vm/initramfs-init.sh) and a busybox root; the
#            image is signed for the run and the agent checks every byte (branchboot.trust=)
#   debian:  debootstrap bookworm minbase + systemd; the initramfs is made by its update-initramfs
#            with boot/initramfs-tools installed, and systemd powers off. The image is partitioned
#            (GPT, the root in partition 1: root=/dev/nbd0p1), as images made from installed PCs are
#   debian-dracut: the same root with dracut (+ dracut-network) and boot/dracut/90branchboot instead,
#            on a whole-disk filesystem (root=/dev/nbd0)
#   busybox-qemu-nbd, debian-qemu-nbd: the references for docs/boot.md: the same images exported
#            by qemu-nbd on the host (qemu's http driver, same server), no agent in the guest
#   debian-image: only makes the debian image (images/debian.qcow2 in the work folder), no boot:
#            for bench/bootstorm
#   busybox-ipxe, debian-ipxe: as a lab PC boots. qemu gets no -kernel/-initrd: the network card's
#            iPXE ROM (Debian's ipxe-qemu) takes its address and bootfile=http://10.0.2.100:PORT/boot.ipxe
#            from qemu's DHCP and loads the script, the kernel and the initramfs from a branch server
#            in front of an origin server (two servers, as a site runs them); the root then streams
#            through the same branch. The same PC (MAC address mapped to the profile on the branch)
#            boots twice: the second boot must cost the uplink (the origin) no bytes, only
#            revalidation. Prints what each server sent per boot. iPXE cannot power off, so qemu is
#            stopped from the console's markers (iPXE's failures, or the guest's power-off).
# Work folder: target/vm-boot (BRANCHBOOT_VM_WORK); downloads are cached in its cache/ folder.
# BRANCHBOOT_VM_NBD1_CHECK=0 (busybox): skip the attach/detach of /dev/nbd1 before the root, so the
# boot's phases compare with busybox-qemu-nbd's (docs/boot.md, "Boot time").
# BRANCHBOOT_VM_TRACE=FILE (agent modes): the agent records its reads (serve --trace) on the
# guest's second serial port, saved to FILE (the format: docs/boot.md; bench/bootstorm replays it);
# the ipxe modes save each boot's trace to FILE.1 and FILE.2.
# debootstrap's mirror is the first Debian bookworm source in this machine's apt sources
# (/etc/apt/sources.list, sources.list.d/*.list and *.sources), or BRANCHBOOT_DEBIAN_MIRROR.
# The guest's only way out is the server: -netdev user,restrict=on with one guestfwd to 127.0.0.1.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${BRANCHBOOT_VM_WORK:-$repo/target/vm-boot}
cache=$work/cache
runtime=$repo/boot/target/branchboot-runtime
server_jar=$repo/server/target/branchboot-server.jar
timeout_s=${BRANCHBOOT_VM_TIMEOUT:-600}
mode=${1:-busybox}
root_device=/dev/nbd0 # the guest's root; image_debian may partition its image

say() { echo "vm-boot: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
for tool in qemu-system-x86_64 qemu-img mkfs.ext4 sfdisk busybox cpio nc curl depmod nbd-client; do
  command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool || -x /sbin/$tool ]] || die "$tool is missing (bash scripts/install-deps.sh)"
done
[[ -x $runtime/bin/branchboot-agent ]] || die "$runtime is missing (mvn -B -DskipTests package)"
[[ -f $server_jar ]] || die "$server_jar is missing (mvn -B -DskipTests package)"
mkdir -p "$work" "$cache"

pids=()
cleanup() {
  [[ -z ${chroot_dir:-} ]] || debian_chroot_mounts off "$chroot_dir"
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # a helper stuck in I/O (seen with qemu-nbd in a read over http) ignores SIGTERM: escalate
  for _ in $(seq 1 50); do
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && break; p=; done
    [[ -z ${p:-} ]] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# --- kernel: Debian's linux-image (the version linux-image-amd64 depends on), modules indexed ----
kernel_setup() {
  local pkg deb
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [[ -n $pkg ]] || die "cannot find the kernel package linux-image-amd64 depends on (apt-get update?)"
  kver=${pkg#linux-image-}
  kdir=$cache/kernel-$kver
  if [[ ! -f $kdir/.done ]]; then
    deb=$(ls "$cache/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
    if [[ -z $deb ]]; then
      say "downloading $pkg"
      (cd "$cache" && apt-get download "$pkg" 2>/dev/null) || die "apt-get download $pkg failed"
      deb=$(ls "$cache/${pkg}_"*.deb | head -n 1)
    fi
    rm -rf "$kdir"
    dpkg-deb -x "$deb" "$kdir"
    depmod -b "$kdir" "$kver"   # the .deb ships no modules.dep
    touch "$kdir/.done"
  fi
  vmlinuz=$kdir/boot/vmlinuz-$kver
  kdeb=$(ls "$cache/${pkg}_"*.deb | head -n 1)
}

# Installs busybox into $1/bin with relative links for its applets.
install_busybox() {
  local a
  cp /bin/busybox "$1/bin/busybox"
  for a in $(/bin/busybox --list); do
    [[ -e $1/bin/$a ]] || ln -s busybox "$1/bin/$a"
  done
}

# Copies a program or library and the shared libraries it needs into $1 (same paths).
copy_with_libs() {
  local dest=$1 file lib
  shift
  for file in "$@"; do
    mkdir -p "$dest/$(dirname "$file")"
    [[ -e $dest/$file ]] || cp -L "$file" "$dest/$file"
    while read -r lib; do
      [[ -n $lib && -e $lib ]] || continue
      mkdir -p "$dest/$(dirname "$lib")"
      [[ -e $dest/$lib ]] || cp -L "$lib" "$dest/$lib"
    done < <(ldd "$file" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/[^ ]*ld-linux/ { print $1 }')
  done
}

# --- the test's minimal busybox initramfs --------------------------------------------------------
initramfs_busybox() {
  local dir=$work/initramfs-busybox out=$work/initrd-busybox.img m
  rm -rf "$dir"
  mkdir -p "$dir"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,lib64,usr/lib/branchboot}
  install_busybox "$dir"
  cp -a "$runtime/." "$dir/usr/lib/branchboot/"
  # shellcheck disable=SC2046 # one path per word
  copy_with_libs "$dir" "$runtime/bin/java" $(find "$runtime/lib" -name '*.so') $(command -v nbd-client || echo /usr/sbin/nbd-client)
  # the runtime's own files were copied to /usr/lib/branchboot; only system libraries are wanted
  rm -rf "${dir:?}/${runtime#/}" "$dir/work" 2>/dev/null || true
  ln -sf /usr/sbin/nbd-client "$dir/sbin/nbd-client" 2>/dev/null || true
  # modules: nbd, the virtio network card, ext4 and their dependencies
  for m in nbd virtio_pci virtio_net ext4 crc32c_generic; do
    modprobe -d "$kdir" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
  done | sort -u | while read -r ko; do
    mkdir -p "$dir/$(dirname "${ko#"$kdir"}")"
    cp "$ko" "$dir/${ko#"$kdir"}"
  done
  cp "$kdir/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$dir/lib/modules/$kver/" 2>/dev/null || true
  depmod -b "$dir" "$kver"
  install -m 0755 "$repo/test/vm/initramfs-init.sh" "$dir/init"
  # the publisher's key, as the initramfs hooks install it (branchboot.trust=/etc/branchboot/trust.pem)
  [[ -z ${trust_key:-} ]] || install -D -m 0644 "$trust_key" "$dir/etc/branchboot/trust.pem"
  # The class archive records the jar's path: make it for /usr/lib/branchboot inside the tree,
  # trained on the image this PC boots.
  cp "$work/images/$image" "$dir/tmp/train.qcow2"
  mknod -m 666 "$dir/dev/null" c 1 3
  chroot "$dir" /bin/sh -c 'mount -t proc proc /proc && /usr/lib/branchboot/bin/train-cds /tmp/train.qcow2; s=$?; umount /proc; exit $s' ||
    die "train-cds in the initramfs tree failed"
  rm -f "$dir/tmp/train.qcow2" "$dir/dev/null" "$dir/usr/lib/branchboot/lib/train.qcow2"
  (cd "$dir" && find . | cpio -o -H newc --quiet | zstd -q -3 -T0) > "$out"
  initrd=$out
}

# --- busybox root filesystem in a compressed QCOW2 -----------------------------------------------
image_busybox() {
  local dir=$work/rootfs-busybox raw=$work/busybox.raw
  rm -rf "$dir" "$raw"
  mkdir -p "$dir"/{bin,sbin,etc,proc,sys,dev,run,tmp,root}
  install_busybox "$dir"
  install -m 0755 "$repo/test/vm/busybox-rootfs-init.sh" "$dir/sbin/init"
  install -m 0644 "$repo/test/vm/guest-checks.sh" "$dir/etc/branchboot-guest-checks.sh"
  image_id=$(cat /proc/sys/kernel/random/uuid)
  echo "$image_id" > "$dir/etc/branchboot-image-id"
  head -c 4M /dev/urandom > "$dir/payload.dat"
  payload_md5=$(md5sum "$dir/payload.dat" | cut -d' ' -f1)
  mkfs.ext4 -q -F -b 4096 -L bbroot -d "$dir" "$raw" 128M > /dev/null
  mkdir -p "$work/images"
  rm -f "$work/images/busybox.qcow2"
  qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd "$raw" "$work/images/busybox.qcow2"
  rm -f "$raw"
  image=busybox.qcow2
}

# sign_image: an Ed25519 key pair for this run and IMAGE.manifest beside the image, signed with it,
# as a publisher would (README, "Signed images"); trust_key is the public key for the initramfs.
sign_image() {
  local keys=$work/keys
  mkdir -p "$keys"
  openssl genpkey -algorithm ed25519 -out "$keys/publisher.pem" 2>/dev/null || die "openssl cannot make an Ed25519 key"
  openssl pkey -in "$keys/publisher.pem" -pubout -out "$keys/trust.pem"
  "$runtime/bin/branchboot-agent" manifest "$work/images/$image" --sign-key "$keys/publisher.pem" >&2 ||
    die "branchboot-agent manifest could not sign $image"
  trust_key=$keys/trust.pem
}

# apt_mirror SUITE: the URI of the first http(s)/file 'deb' source of SUITE with component main in
# this machine's apt sources: one-line entries (sources.list, sources.list.d/*.list, with or without
# [options]) and deb822 stanzas (sources.list.d/*.sources, honouring Enabled: no). Empty if none.
apt_mirror() {
  local suite=$1 files=()
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do [[ -f $f ]] && files+=("$f"); done
  ((${#files[@]})) || return 0
  awk -v suite="$suite" '
    function usable(uri) { return uri ~ /^(https?|file):/ }
    function has(list, word,   n, i, parts) { n = split(list, parts, /[ \t]+/); for (i = 1; i <= n; i++) if (parts[i] == word) return 1; return 0 }
    function stanza_end() {
      if (types != "" && has(types, "deb") && has(suites, suite) && has(comps, "main") && tolower(enabled) != "no") {
        n = split(uris, u, /[ \t]+/); for (i = 1; i <= n; i++) if (usable(u[i])) { print u[i]; found = 1; exit }
      }
      types = uris = suites = comps = enabled = ""
    }
    FNR == 1 { stanza_end(); deb822 = FILENAME ~ /\.sources$/ }
    /^[ \t]*#/ { next }
    !deb822 {
      line = $0; sub(/\[[^]]*\]/, "", line); n = split(line, w, /[ \t]+/)
      if (w[1] == "" ) { shift = 1 } else { shift = 0 }
      if (w[1 + shift] == "deb" && w[3 + shift] == suite && usable(w[2 + shift])) {
        for (i = 4 + shift; i <= n; i++) if (w[i] == "main") { print w[2 + shift]; found = 1; exit }
      }
      next
    }
    /^[ \t]*$/ { stanza_end(); next }
    { key = tolower($1); value = $0; sub(/^[^:]*:[ \t]*/, "", value)
      if (key == "types:") types = value; else if (key == "uris:") uris = value
      else if (key == "suites:") suites = value; else if (key == "components:") comps = value
      else if (key == "enabled:") enabled = value }
    END { if (!found) stanza_end() }
  ' "${files[@]}"
}

# --- debootstrap minbase + systemd root; its own update-initramfs runs the branchboot hook ---------
debian_chroot_mounts() { # on|off DIR
  if [[ $1 == on ]]; then
    mount -t proc proc "$2/proc"
    mount --bind /dev "$2/dev"
  else
    umount "$2/dev" 2>/dev/null || true
    umount "$2/proc" 2>/dev/null || true
  fi
}

# image_debian [initramfs-tools|dracut]: the initramfs by update-initramfs with boot/initramfs-tools,
# or (dracut) by dracut with boot/dracut/90branchboot after `apt-get install dracut dracut-network`
image_debian() {
  local flavour=${1:-initramfs-tools} name=debian
  [[ $flavour == dracut ]] && name=debian-dracut
  root_device=/dev/nbd0p1
  [[ $flavour == dracut ]] && root_device=/dev/nbd0
  local base=$cache/debian-bookworm-minbase.tar dir=$work/rootfs-$name raw=$work/$name.raw mirror
  if [[ ! -f $base ]]; then
    mirror=${BRANCHBOOT_DEBIAN_MIRROR:-$(apt_mirror bookworm)}
    [[ -n $mirror ]] || die "no 'deb' source of bookworm with component main in /etc/apt/sources.list or /etc/apt/sources.list.d/ (set BRANCHBOOT_DEBIAN_MIRROR)"
    say "debootstrap bookworm minbase + systemd from $mirror (cached in $base)"
    rm -rf "$work/debootstrap"
    debootstrap --variant=minbase --include=systemd-sysv,udev,kmod,initramfs-tools,busybox,nbd-client,linux-base,zstd \
      bookworm "$work/debootstrap" "$mirror" > "$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
    tar -C "$work/debootstrap" -cf "$base.tmp" . && mv "$base.tmp" "$base"
    rm -rf "$work/debootstrap"
  fi
  debian_chroot_mounts off "$dir"
  if mountpoint -q "$dir/dev" || mountpoint -q "$dir/proc"; then die "$dir/dev or $dir/proc is still mounted"; fi
  rm -rf --one-file-system "$dir" "$raw"
  mkdir -p "$dir"
  chroot_dir=$dir
  tar -C "$dir" -xf "$base"
  # the runtime and the initramfs-tools integration, installed as a package would
  mkdir -p "$dir/usr/lib/branchboot" "$dir/etc/systemd/system/multi-user.target.wants"
  cp -a "$runtime/." "$dir/usr/lib/branchboot/"
  if [[ $flavour == dracut ]]; then
    mkdir -p "$dir/usr/lib/dracut/modules.d/90branchboot" "$dir/etc/dracut.conf.d"
    install -m 0755 "$repo"/boot/dracut/90branchboot/*.sh "$dir/usr/lib/dracut/modules.d/90branchboot/"
    # Debian's dracut would pick systemd-networkd for the network, which needs dbus in the initramfs
    printf 'hostonly="no"\nadd_dracutmodules+=" branchboot network-legacy "\nomit_dracutmodules+=" systemd-networkd "\ncompress="zstd"\n' > "$dir/etc/dracut.conf.d/90-branchboot.conf"
  else
    install -m 0755 "$repo/boot/initramfs-tools/hooks/branchboot" "$dir/usr/share/initramfs-tools/hooks/branchboot"
    install -m 0755 "$repo/boot/initramfs-tools/scripts/local-top/branchboot" "$dir/usr/share/initramfs-tools/scripts/local-top/branchboot"
  fi
  install -m 0644 "$repo/boot/systemd/branchboot-agent@.service" "$dir/lib/systemd/system/branchboot-agent@.service"
  install -m 0755 "$repo/test/vm/debian-check.sh" "$dir/usr/local/sbin/branchboot-check"
  install -m 0644 "$repo/test/vm/guest-checks.sh" "$dir/etc/branchboot-guest-checks.sh"
  cat > "$dir/etc/systemd/system/branchboot-test.service" <<'UNIT'
[Unit]
Description=branchboot VM test checks
After=local-fs.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/branchboot-check
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
UNIT
  ln -sf ../branchboot-test.service "$dir/etc/systemd/system/multi-user.target.wants/branchboot-test.service"
  echo "$root_device / ext4 defaults 0 1" > "$dir/etc/fstab"
  echo branchboot-vm > "$dir/etc/hostname"
  image_id=$(cat /proc/sys/kernel/random/uuid)
  echo "$image_id" > "$dir/etc/branchboot-image-id"
  head -c 4M /dev/urandom > "$dir/payload.dat"
  payload_md5=$(md5sum "$dir/payload.dat" | cut -d' ' -f1)
  # the kernel package: its postinst runs update-initramfs, which runs the branchboot hook
  cp "$kdeb" "$dir/tmp/"
  debian_chroot_mounts on "$dir"
  chroot "$dir" /usr/lib/branchboot/bin/train-cds || { debian_chroot_mounts off "$dir"; die "train-cds in the Debian root failed"; }
  if [[ $flavour == dracut ]]; then
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    { chroot "$dir" apt-get update -qq && DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get install -y -qq --no-install-recommends \
        dracut dracut-network isc-dhcp-client iproute2 procps; } > "$work/$name-apt.log" 2>&1 ||
      { debian_chroot_mounts off "$dir"; tail -n 30 "$work/$name-apt.log" >&2; die "installing dracut in the Debian root failed"; }
  else
    # netboot: the network drivers and the base set (ext4, virtio), not every module (MODULES=most)
    echo "MODULES=netboot" > "$dir/etc/initramfs-tools/conf.d/branchboot-vm-test"
  fi
  DEBIAN_FRONTEND=noninteractive chroot "$dir" dpkg -i "/tmp/$(basename "$kdeb")" > "$work/$name-kernel.log" 2>&1 ||
    { debian_chroot_mounts off "$dir"; tail -n 30 "$work/$name-kernel.log" >&2; die "installing the kernel in the Debian root failed"; }
  # the hook's work, as users get it: the runtime, the boot script and nbd-client in the initramfs
  if [[ $flavour == dracut ]]; then
    chroot "$dir" lsinitrd "/boot/initrd.img-$kver" 2>/dev/null | awk '{ print $NF }' | sed 's|^/||' > "$work/initrd-$name.list" || true
  else
    chroot "$dir" lsinitramfs "/boot/initrd.img-$kver" > "$work/initrd-$name.list"
  fi
  debian_chroot_mounts off "$dir"
  rm -f "$dir/tmp/$(basename "$kdeb")"
  initrd=$work/initrd-$name.img
  cp "$dir/boot/initrd.img-$kver" "$initrd"
  local script=scripts/local-top/branchboot
  [[ $flavour == dracut ]] && script=sbin/branchbootroot
  # the class archive train-cds made: an AOT cache on a JDK 25 runtime, AppCDS on 17
  local archive=branchboot-agent.jsa
  [[ -f $runtime/lib/branchboot-agent.aot ]] && archive=branchboot-agent.aot
  for f in usr/lib/branchboot/bin/branchboot-agent usr/lib/branchboot/lib/$archive $script sbin/nbd-client; do
    grep -qx -e "$f" -e "usr/$f" "$work/initrd-$name.list" || die "the initramfs made by $flavour lacks $f"
  done
  if [[ $root_device == /dev/nbd0p1 ]]; then
    # GPT with one Linux partition from 1 MiB, the filesystem written straight into it
    truncate -s 1026M "$raw"
    echo 'start=2048, size=2097152, type=linux' | sfdisk -q --label gpt "$raw" > /dev/null
    mkfs.ext4 -q -F -b 4096 -L bbroot -E offset=1048576 -d "$dir" "$raw" 1G > /dev/null
  else
    mkfs.ext4 -q -F -b 4096 -L bbroot -d "$dir" "$raw" 1G > /dev/null
  fi
  rm -f "$work/images/$name.qcow2"
  mkdir -p "$work/images"
  qemu-img convert -c -f raw -O qcow2 -o compression_type=zstd "$raw" "$work/images/$name.qcow2"
  rm -f "$raw"
  image=$name.qcow2
  echo "$image_id $payload_md5 $root_device" > "$work/$name.meta"
}

# qemu-nbd on the host reading $image through qemu's http driver from the same server
start_qemu_nbd() {
  nbdport=$(free_port)
  qemu-nbd -s -t -f qcow2 -x img -b 127.0.0.1 -p "$nbdport" --cache=writeback \
    "http://127.0.0.1:$port/images/$image" > "$work/qemu-nbd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do nc -z 127.0.0.1 "$nbdport" 2>/dev/null && return 0; sleep 0.1; done
  cat "$work/qemu-nbd.log" >&2
  die "qemu-nbd did not start"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# launch_server NAME SETTING...: a branchboot server on a free port of 127.0.0.1 (log in
# $work/NAME.log); sets server_port once it is ready
launch_server() {
  local name=$1
  shift
  server_port=$(free_port)
  java -jar "$server_jar" "$@" --server.address=127.0.0.1 --server.port="$server_port" > "$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 240); do
    curl -fsS "http://127.0.0.1:$server_port/actuator/health/readiness" >/dev/null 2>&1 && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.5
  done
  cat "$work/$name.log" >&2
  die "the $name server did not start"
}

start_server() {
  launch_server server --branchboot.images-dir="$work/images"
  port=$server_port
}

# bytes_sent [PORT]: the body bytes a server has sent (branchboot_response_bytes_total, every route)
bytes_sent() {
  curl -fsS "http://127.0.0.1:${1:-$port}/actuator/prometheus" |
    awk '/^branchboot_response_bytes_total/ { sum += $NF } END { printf "%.0f\n", sum }'
}

# requests_made PORT METHOD: the image requests of METHOD a server has answered
requests_made() {
  curl -fsS "http://127.0.0.1:$1/actuator/prometheus" |
    awk -v method="$2" '/^branchboot_requests_total\{/ && /route="image"/ && index($0, "method=\"" method "\"") { sum += $NF }
      END { printf "%.0f\n", sum }'
}

# --- a site for the ipxe modes: an origin serving $work/images, a branch in front of it -----------
# start_site PROFILE CMDLINE: publishes the kernel and $initrd into the origin's images folder (boot/),
# starts the origin and a branch with an empty cache whose boot profile PROFILE boots $image with
# them and CMDLINE, and maps the PC's MAC address ($pc_mac) to it. The guest's port leads to the branch.
start_site() {
  local profile=$1 cmdline=$2 initrd_name
  initrd_name=$(basename "$initrd")
  mkdir -p "$work/images/boot"
  cp "$vmlinuz" "$work/images/boot/vmlinuz-$kver"
  cp "$initrd" "$work/images/boot/$initrd_name"
  local trust=()
  if [[ -n ${trust_key:-} ]]; then
    # A signed site: the kernel and the initramfs are signed too (under the names the branch serves
    # them by), the branch takes only signed bytes, and the agent checks every byte again.
    for f in "boot/vmlinuz-$kver" "boot/$initrd_name"; do
      "$runtime/bin/branchboot-agent" manifest "$work/images/$f" --name "$f" --sign-key "$work/keys/publisher.pem" >&2 ||
        die "branchboot-agent manifest could not sign $f"
    done
    trust=(--branchboot.trust-key="$trust_key")
    cmdline="$cmdline branchboot.trust=/etc/branchboot/trust.pem"
  fi
  launch_server origin --branchboot.images-dir="$work/images"
  origin_port=$server_port
  rm -rf "$work/branch-cache"
  cmdline="$cmdline branchboot.opts=--trace,/dev/ttyS1"
  launch_server branch --branchboot.upstreams="http://127.0.0.1:$origin_port/images" \
    --branchboot.cache.dir="$work/branch-cache" "${trust[@]}" \
    --branchboot.boot.profiles."$profile".image="$image" \
    --branchboot.boot.profiles."$profile".kernel="boot/vmlinuz-$kver" \
    --branchboot.boot.profiles."$profile".initrd="boot/$initrd_name" \
    --branchboot.boot.profiles."$profile".cmdline="$cmdline" \
    --branchboot.boot.machines."${pc_mac//:/-}"="$profile"
  port=$server_port
}

# boot_ipxe NAME: boots the PC from its network card (no -kernel): iPXE gets bootfile= from qemu's
# DHCP. Console (SeaBIOS, iPXE, Linux) in $work/NAME.console.log. Stops qemu on iPXE's or the BIOS's
# failure messages, on the timeout, or if it is still running 120 s after the guest's power-off
# marker; sets boot_seconds (qemu's run) and firmware_seconds (qemu start until the kernel's first line).
boot_ipxe() {
  local name=$1 log=$work/$1.console.log start now qemu_pid status=0 failure="" poweroff_at=""
  rm -f "$log"
  # SeaBIOS's text console on COM1 (fw_cfg file etc/sercon-port, a little-endian port number): with
  # no display, iPXE's messages reach the log only this way. (qemu warns that the name lacks "opt/";
  # SeaBIOS reads exactly this name: its stderr goes to NAME.qemu.log.)
  printf '\xf8\x03' > "$work/sercon-port"
  # the agent's trace (its kernel argument is in the profile, see start_site) on ttyS1: what the
  # second boot fetched that the first did not
  local trace_serial=(-serial "file:$work/$name.trace.raw")
  rm -f "$work/$name.trace.raw"
  say "booting $name from the network (iPXE, branch http://127.0.0.1:$port, origin http://127.0.0.1:$origin_port; qemu TCG, timeout ${timeout_s}s)"
  start=$(date +%s.%N)
  firmware_seconds=""
  qemu-system-x86_64 -accel tcg -m 2048 -smp 2 -no-reboot -nodefaults \
    -display none -monitor none -serial "file:$log" "${trace_serial[@]}" \
    -fw_cfg name=etc/sercon-port,file="$work/sercon-port" -boot order=n \
    -netdev "user,id=n0,restrict=on,bootfile=http://10.0.2.100:$port/boot.ipxe,guestfwd=tcp:10.0.2.100:$port-cmd:nc -N 127.0.0.1 $port" \
    -device "virtio-net-pci,netdev=n0,mac=$pc_mac" 2> "$work/$name.qemu.log" &
  qemu_pid=$!
  pids+=($qemu_pid)
  # polls the console: there is no event to wait for, and a second is nothing against a boot
  while kill -0 "$qemu_pid" 2>/dev/null; do
    now=$(date +%s.%N)
    if [[ -z $firmware_seconds ]] && grep -a -q "Linux version" "$log" 2>/dev/null; then
      firmware_seconds=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
    fi
    if grep -a -q -E "No more network devices|No bootable device|Could not boot|Boot failed|Exec format error" "$log" 2>/dev/null; then
      failure="the firmware or iPXE gave up: $(grep -a -o -E "No more network devices|No bootable device|Could not boot.*|Boot failed.*|Exec format error.*" "$log" | head -n 1 | tr -d '\r')"
    elif [[ -z $poweroff_at ]] && grep -a -q "BRANCHBOOT-POWEROFF" "$log" 2>/dev/null; then
      poweroff_at=$SECONDS
    elif [[ -n $poweroff_at ]] && ((SECONDS - poweroff_at > 120)); then
      failure="the guest did not power off within 120 s of its power-off marker"
    elif awk -v a="$start" -v b="$now" -v t="$timeout_s" 'BEGIN { exit !(b - a > t) }'; then
      failure="timeout after ${timeout_s}s"
    fi
    if [[ -n $failure ]]; then
      kill "$qemu_pid" 2>/dev/null || true
      break
    fi
    sleep 1
  done
  wait "$qemu_pid" || status=$?
  boot_seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [[ -n $failure || $status -ne 0 ]]; then
    tail -n 40 "$log" >&2
    cat "$work/$name.qemu.log" >&2
    die "$name: ${failure:-qemu exited with status $status} after $boot_seconds s"
  fi
  tr -d '\r' < "$work/$name.trace.raw" > "$work/$name.trace"
  if [[ -n ${BRANCHBOOT_VM_TRACE:-} ]]; then
    cp "$work/$name.trace" "$BRANCHBOOT_VM_TRACE.${name##*-}"
    say "trace of $(grep -c '^R ' "$work/$name.trace") reads in $BRANCHBOOT_VM_TRACE.${name##*-}"
  fi
}

# new_fetched_blocks TRACE1 TRACE2: the 4 KiB blocks of image files that the agent of TRACE2 fetched
# (on demand, R, or by read-ahead, F) and that of TRACE1 did not, as "ALL DEMAND" counts
new_fetched_blocks() {
  python3 - "$1" "$2" <<'PY'
import sys
def fetched(path):
    demand, ahead = set(), set()
    for line in open(path, errors="replace"):
        w = line.split()
        if not w or w[0] not in ("F", "R"):
            continue
        for r in w[3:] if w[0] == "F" else w[5:]:
            f, _, span = r.partition(":")
            off, _, length = span.partition("+")
            blocks = {(f, b) for b in range(int(off) // 4096, (int(off) + int(length) - 1) // 4096 + 1)}
            (demand if w[0] == "R" else ahead).update(blocks)
    return demand, ahead
d1, a1 = fetched(sys.argv[1])
d2, a2 = fetched(sys.argv[2])
print(len((d2 | a2) - (d1 | a1)), len(d2 - (d1 | a1)))
PY
}

# two_boots NAME: boots the PC twice through the branch, checking each boot, and prints what the
# origin (uplink) and the branch (LAN) sent for each. The second boot must cost the uplink nothing
# for what the first fetched: at most the blocks its agent fetched that the first boot's never did.
# (The agent's background read-ahead reaches further in one boot than in another, with timing: a
# Debian boot's second run fetched 1.6 MB of such blocks, none of them read on demand.)
two_boots() {
  local name=$1 i up0 lan0 head0 up lan heads new_blocks new_demand
  for i in 1 2; do
    up0=$(bytes_sent "$origin_port")
    lan0=$(bytes_sent "$port")
    head0=$(requests_made "$origin_port" HEAD)
    boot_ipxe "$name-$i"
    up=$(($(bytes_sent "$origin_port") - up0))
    lan=$(($(bytes_sent "$port") - lan0))
    heads=$(($(requests_made "$origin_port" HEAD) - head0))
    check_boot "$work/$name-$i.console.log"
    check_ipxe_boot "$work/$name-$i.console.log"
    report+=("boot $i: userspace on $root_device at ${guest_userspace} s uptime, agent started at ${guest_agent_start} s, device connected at ${guest_connected} s; firmware + iPXE until the kernel's first line ${firmware_seconds:-?} s wall, qemu run ${boot_seconds} s wall; uplink (origin sent) $up bytes, LAN (branch sent) $lan bytes, $heads revalidations (HEAD) at the origin")
    if ((i == 2)); then
      read -r new_blocks new_demand < <(new_fetched_blocks "$work/$name-1.trace" "$work/$name-2.trace")
      report[-1]+="; the agent fetched $new_blocks blocks (4 KiB) the first boot had not ($new_demand of them on demand)"
    fi
    say "${report[-1]}"
    if ((i == 2 && up > new_blocks * 4096)); then
      die "the second boot pulled $up bytes over the uplink, more than the $((new_blocks * 4096)) bytes of blocks the first boot never fetched: the branch fetched again what it had"
    fi
  done
}

# the iPXE part of a boot: the branch's script ran and handed the kernel this branch, then the origin
check_ipxe_boot() {
  local log=$1 servers="branchboot.server=http://10.0.2.100:$port/images,http://127.0.0.1:$origin_port/images"
  grep -a -q "branchboot: profile $profile," "$log" || die "no echo of the branch's boot script (profile $profile) on the console: $log"
  grep -a -q "Command line: .*initrd=initrd.img $servers branchboot.image=$image " "$log" ||
    die "the kernel's command line lacks initrd=initrd.img $servers branchboot.image=$image: $log"
}

# boot NAME CMDLINE: boots the kernel with $initrd, console in $work/NAME.console.log
boot() {
  local name=$1 append=$2 log=$work/$1.console.log start end status=0 trace_serial=()
  rm -f "$log"
  if [[ -n ${BRANCHBOOT_VM_TRACE:-} && -z ${reference:-} ]]; then
    # the trace leaves the guest on ttyS1, a file on the host
    rm -f "$work/$name.trace.raw"
    trace_serial=(-serial "file:$work/$name.trace.raw")
    append="$append branchboot.opts=--trace,/dev/ttyS1"
  fi
  say "booting $name (qemu TCG, timeout ${timeout_s}s)"
  start=$(date +%s.%N)
  timeout "$timeout_s" qemu-system-x86_64 -accel tcg -m 2048 -smp 2 -no-reboot -nodefaults \
    -display none -monitor none -serial "file:$log" "${trace_serial[@]}" \
    -kernel "$vmlinuz" -initrd "$initrd" -append "$append" \
    -netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:$port-cmd:nc -N 127.0.0.1 $port" \
    -device virtio-net-pci,netdev=n0 || status=$?
  end=$(date +%s.%N)
  boot_seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  [[ $status -eq 0 ]] || { tail -n 40 "$log" >&2; die "qemu exited with status $status (124: timeout) after $boot_seconds s"; }
  if ((${#trace_serial[@]})); then
    tr -d '\r' < "$work/$name.trace.raw" > "$BRANCHBOOT_VM_TRACE"
    say "trace of $(grep -c '^R ' "$BRANCHBOOT_VM_TRACE") reads in $BRANCHBOOT_VM_TRACE"
  fi
}

check_boot() {
  local log=$1 errors=0 line
  grep -q "BRANCHBOOT-USERSPACE root=$root_device " "$log" || { say "no userspace marker on $root_device"; errors=1; }
  grep -q "image-id=$image_id" "$log" || { say "the root filesystem is not the image made for this run"; errors=1; }
  [[ -n ${reference:-} ]] || grep -q "BRANCHBOOT-AGENT-ALIVE pid=.* argv0=@branchboot-agent oom_score_adj=-1000" "$log" ||
    { say "the agent was not running after switch_root as @branchboot-agent with oom_score_adj -1000"; errors=1; }
  grep -q "BRANCHBOOT-OVERLAY-OK" "$log" || { say "writing into the overlay and reading it back failed"; errors=1; }
  grep -q "BRANCHBOOT-PAYLOAD md5=$payload_md5" "$log" || { say "the payload's bytes differ from the host's"; errors=1; }
  grep -q -e "BRANCHBOOT-ROOT-READONLY" -e "systemd-shutdown.*All filesystems unmounted" "$log" ||
    { say "the root was not remounted read-only before power-off"; errors=1; }
  grep -q "BRANCHBOOT-POWEROFF" "$log" || { say "no orderly power-off"; errors=1; }
  if [[ ${unit_test:-} ]]; then
    grep -q "BRANCHBOOT-UNIT-NBD1 payload md5=$payload_md5 argv0=@branchboot-agent" "$log" ||
      { say "branchboot-agent@nbd1.service did not attach /dev/nbd1 with the right bytes"; errors=1; }
    grep -q "BRANCHBOOT-UNIT-STOPPED state=inactive result=success connected=no" "$log" ||
      { say "stopping branchboot-agent@nbd1.service did not detach /dev/nbd1 cleanly"; errors=1; }
  fi
  if [[ ${detach_test:-} ]]; then
    grep -q "BRANCHBOOT-NBD1 payload md5=$payload_md5" "$log" || { say "attach of /dev/nbd1 did not read the payload right"; errors=1; }
    grep -q "BRANCHBOOT-DETACH-OK agent-exit=0" "$log" || { say "detach of /dev/nbd1 did not disconnect it and stop its agent with status 0"; errors=1; }
  fi
  if grep -E "Unable to use shared archive|\[error\]\[aot\]|Unable to map shared spaces" "$log" >&2; then
    say "the agent started without its class archive (AppCDS or AOT cache)"
    errors=1
  fi
  if grep -E -i "I/O error|nbd0.*(error|timed out|dead|stuck request)|EXT4-fs error|blk_update_request|Kernel panic" "$log" >&2; then
    say "I/O errors on the console"
    errors=1
  fi
  if ((errors)); then
    say "console log: $log (last lines below)"
    tail -n 60 "$log" >&2
    die "checks failed"
  fi
  line=$(grep -a -o 'branchboot: /dev/nbd0 connected: .*' "$log" | head -n 1 | tr -d '\r' || true)
  guest_agent_start=$(sed -n 's/.*started at \([0-9.]*\) s.*/\1/p' <<<"$line")
  guest_connected=$(sed -n 's/.*connected at \([0-9.]*\) s.*/\1/p' <<<"$line")
  guest_userspace=$(grep -a -o 'BRANCHBOOT-USERSPACE.*' "$log" | sed -n 's/.*uptime=\([0-9.]*\).*/\1/p' | head -n 1 || true)
}

kernel_setup
case $mode in
  busybox)
    image_busybox
    # The busybox boot runs signed: every byte of the root checked against the image's manifest.
    sign_image
    initramfs_busybox
    start_server
    before=$(bytes_sent)
    detach_test=""
    [[ ${BRANCHBOOT_VM_NBD1_CHECK:-1} == 0 ]] || detach_test=1
    boot busybox "console=ttyS0 panic=-1 branchboot.server=http://10.0.2.100:$port/images branchboot.image=$image branchboot.cow=ram:256M branchboot.heap=512m branchboot.log=console branchboot.trust=/etc/branchboot/trust.pem${detach_test:+ branchboot-test.detach}"
    after=$(bytes_sent)
    check_boot "$work/busybox.console.log"
    grep -a -q "manifest of .*$image signed by the trusted key" "$work/busybox.console.log" ||
      die "the agent did not check the image against its signed manifest (branchboot.trust=): $work/busybox.console.log"
    ;;
  debian)
    image_debian
    start_server
    before=$(bytes_sent)
    unit_test=1
    boot debian "console=ttyS0 panic=-1 root=$root_device rw ip=dhcp branchboot.server=http://10.0.2.100:$port/images branchboot.image=$image branchboot.cow=ram:512M branchboot.heap=768m branchboot.log=console"
    after=$(bytes_sent)
    check_boot "$work/debian.console.log"
    ;;
  busybox-qemu-nbd)
    # the reference: the same kind of image read by qemu-nbd on the host through qemu's http driver
    # from the same server; the guest attaches with plain nbd-client, no agent
    image_busybox
    initramfs_busybox
    start_server
    start_qemu_nbd
    before=$(bytes_sent)
    guest_port=$port
    port=$nbdport # the guest's one forwarded port now leads to qemu-nbd
    boot busybox-qemu-nbd "console=ttyS0 panic=-1 branchboot.server=unused branchboot.image=unused branchboot-test.qemu-nbd=10.0.2.100:$nbdport"
    port=$guest_port
    after=$(bytes_sent)
    reference=1
    check_boot "$work/busybox-qemu-nbd.console.log"
    ;;
  debian-dracut)
    image_debian dracut
    start_server
    before=$(bytes_sent)
    unit_test=1
    boot debian-dracut "console=ttyS0 panic=-1 root=$root_device rw ip=dhcp rd.neednet=1 branchboot.server=http://10.0.2.100:$port/images branchboot.image=$image branchboot.cow=ram:512M branchboot.heap=768m branchboot.log=console"
    after=$(bytes_sent)
    check_boot "$work/debian-dracut.console.log"
    ;;
  debian-qemu-nbd)
    # the reference for debian: the image of the last debian run (made anew if there is none),
    # exported by qemu-nbd; the guest uses Debian's own nbd-client boot script (nbdroot=)
    if [[ -f $work/debian.meta && -f $work/images/debian.qcow2 && -f $work/initrd-debian.img ]]; then
      read -r image_id payload_md5 root_device < "$work/debian.meta"
      image=debian.qcow2
      initrd=$work/initrd-debian.img
    else
      image_debian
    fi
    start_server
    start_qemu_nbd
    before=$(bytes_sent)
    guest_port=$port
    port=$nbdport
    boot debian-qemu-nbd "console=ttyS0 panic=-1 root=$root_device rw ip=dhcp nbdroot=10.0.2.100:$nbdport/img"
    port=$guest_port
    after=$(bytes_sent)
    reference=1
    check_boot "$work/debian-qemu-nbd.console.log"
    ;;
  debian-image)
    image_debian
    say "image: $work/images/$image"
    exit 0
    ;;
  busybox-ipxe | debian-ipxe)
    [[ -f /usr/share/qemu/efi-virtio.rom || -f /usr/lib/ipxe/qemu/efi-virtio.rom ]] || die "the NIC's iPXE ROM is missing (ipxe-qemu; bash scripts/install-deps.sh)"
    pc_mac=52:54:00:b0:07:01
    report=()
    if [[ $mode == busybox-ipxe ]]; then
      image_busybox
      # Signed end to end: origin (manifests) -> branch with the trust key -> agent with the trust key.
      sign_image
      initramfs_busybox
      profile=busybox
      detach_test=1
      start_site "$profile" "console=ttyS0 panic=-1 branchboot.cow=ram:256M branchboot.heap=512m branchboot.log=console branchboot-test.detach"
    else
      image_debian
      profile=debian
      unit_test=1
      start_site "$profile" "console=ttyS0 panic=-1 root=$root_device rw ip=dhcp branchboot.cow=ram:512M branchboot.heap=768m branchboot.log=console"
    fi
    two_boots "$mode"
    if [[ -n ${trust_key:-} ]]; then
      for i in 1 2; do
        grep -a -q "manifest of .*$image signed by the trusted key" "$work/$mode-$i.console.log" ||
          die "boot $i: the agent did not check the image against its signed manifest: $work/$mode-$i.console.log"
      done
    fi
    qcow_size=$(stat -c %s "$work/images/$image")
    echo "vm-boot: PASS ($mode): the PC booted twice through iPXE from the branch in front of the origin (image file ${qcow_size} bytes, kernel $kver)"
    printf 'vm-boot:   %s\n' "${report[@]}"
    exit 0
    ;;
  *) die "unknown mode '$mode' (busybox, debian, debian-dracut, busybox-qemu-nbd, debian-qemu-nbd, debian-image, busybox-ipxe or debian-ipxe)" ;;
esac
qcow_size=$(stat -c %s "$work/images/$image")
# The root agent's own totals at power-off: what the image reader read from the HTTP source and what
# that cost the network (issue #31's read-ahead measure; the server's count also has the nbd1 agent's).
agent_io=$(grep -a -o 'HTTP: read [0-9.]* MiB, fetched [0-9.]* MiB' "$work/$mode.console.log" | head -n 1 || true)
agent_io=${agent_io:+; root agent ${agent_io#HTTP: } ($(awk -v r="$(awk '{print $3}' <<<"$agent_io")" \
  -v f="$(awk '{print $6}' <<<"$agent_io")" 'BEGIN { if (r > 0) printf "%.2fx", f / r }') fetched/read)}
echo "vm-boot: PASS ($mode): guest userspace on $root_device at ${guest_userspace} s uptime; agent started at ${guest_agent_start} s, device connected at ${guest_connected} s; qemu run (boot to power-off) ${boot_seconds} s wall; server sent $((after - before)) bytes (image file ${qcow_size} bytes)${agent_io}; kernel $kver"
