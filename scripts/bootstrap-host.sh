#!/usr/bin/env bash
# Installs the Debian packages qganb drives (rpm, git, qemu-ga build deps, libvirt, QEMU, OpenSSH);
# with --test, also what only the test suite needs (Chromium for the JupyterLab browser test), so
# that a first `make demo` does not wait for a browser it never starts.
# Idempotent: when every package is already installed it only runs dpkg-query and exits.
set -euo pipefail

packages=(
  # packaging
  rpm rpm2cpio python3-rpm cpio xz-utils git dpkg-dev
  # Python for the project venv (rpm's bindings are built for this interpreter)
  python3 python3-venv python3-pip
  # building qemu-ga from QEMU sources
  gcc make ninja-build meson pkg-config libglib2.0-dev flex bison ccache
  # what CentOS 7's qemu-guest-agent 2.12 spec builds with (its BuildRequires, mapped to Debian)
  zlib1g-dev libudev-dev systemtap-sdt-dev texinfo libgoogle-perftools-dev
  # the testbed: libvirt + QEMU (TCG), a Debian guest image, OpenSSH's client (the guest's kernel and
  # sshd come with its image, from debootstrap: the host needs neither)
  qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients
  openssh-client debootstrap e2fsprogs systemd
  # the sandbox recipe C runs in on the build host (validate, verify-rpm)
  bubblewrap
)
case "${1:-}" in
  --test)
    # the browser the JupyterLab test drives through Playwright (which may not download its own)
    packages+=(chromium) ;;
  "") ;;
  *) echo "bootstrap: unknown option '$1' (use --test for the test suite's packages too)" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo -n)
fi
echo "bootstrap: installing Debian packages: ${missing[*]}"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
