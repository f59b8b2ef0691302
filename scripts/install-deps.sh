#!/usr/bin/env bash
# Installs the Debian packages that branchboot's tests, benchmarks and quick start use, when missing.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  qemu-utils        # qemu-img, qemu-io, qemu-nbd: make test images and read them as the reference
  qemu-block-extra  # qemu's http block driver, the peer of the HTTP tests
  libnbd-bin        # nbdcopy, nbdinfo: NBD clients for the export tests
  python3-libnbd    # libnbd from Debian's /usr/bin/python3, for protocol tests
  nbdkit            # nbdkit curl, a peer in benchmarks
  fuse3 fuse2fs e2fsprogs  # with nbdfuse (in libnbd-bin): mount a filesystem from an export without a kernel nbd module
  netcat-openbsd    # nc, used by VM tests to forward a guest's only connection
  qemu-system-x86   # test/vm-boot.sh: boots Debian's kernel under TCG with the root on the agent
  ipxe-qemu         # test/vm-boot.sh *-ipxe: the network cards' iPXE ROMs (only recommended by qemu-system-x86)
  busybox-static cpio kmod zstd  # test/vm-boot.sh: the busybox root, the initramfs, depmod/modprobe
  debootstrap       # test/vm-boot.sh debian: the minbase + systemd root
  fdisk             # sfdisk: test/vm-boot.sh debian partitions its image (GPT)
  nbd-client        # copied into the test guests' initramfs (the host has no nbd module to use it)
  zip               # boot/ build: drops other platforms' zstd-jni libraries from the runtime's jar
  gcc libc6-dev libdeflate-dev  # qcow2/ build: the libdeflate decoder (src/main/native); without them zlib decodes
  nginx             # a real HTTP origin for integration tests
  wrk               # HTTP load generator for bench/server-vs-nginx.sh (Lua range script)
  prometheus        # a real Prometheus scrapes the agent and the server in PrometheusScrapeIT
  docker-compose    # checks and normalizes docker-compose.yml in ComposeServicesIT (no engine: --no-install-recommends)
  curl              # the healthcheck command of docker-compose.yml, run by ComposeServicesIT
  openssl           # test/vm-boot.sh busybox signs its image: an Ed25519 key pair for the run
  systemd           # DebPackageIT: systemd-analyze verify, and systemd-sysusers/-tmpfiles for the .deb's postinst
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
