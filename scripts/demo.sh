#!/usr/bin/env bash
# `make demo`: what the project can show end to end so far; each pipeline stage joins here as it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
qganb=.venv/bin/qganb

echo "== 1. Fixture src.rpm: QEMU 7.2 packaged in the CentOS 7 style, from Debian's real QEMU source"
srpm=$("$qganb" testbed srpm --qemu 7.2 --style el7)
echo "$srpm"
rpm -qp --nosignature --qf 'NEVRA: %{NAME}-%{EPOCH}:%{VERSION}-%{RELEASE}.src\n' "$srpm"
echo "Patches carried by the spec (the new one will go above them):"
rpm -qp --nosignature --qf '[  %{PATCH}\n]' "$srpm"

echo
echo "== 2. Rebuild it and ask its qemu-ga for guest-info over a unix socket"
.venv/bin/python -m qganb.testbed.smoke "$srpm"

echo
echo "== 3. The two seed recipes, validated on that QEMU tree before any RPM exists"
tree=$("$qganb" testbed tree --qemu 7.2)
"$qganb" recipe preview recipes/guest-get-cpu-usage-rate.yaml --source "$tree" | sed -n '1,/^--- diff/p'
"$qganb" recipe validate recipes/guest-set-watchdog-timeout.yaml recipes/guest-get-cpu-usage-rate.yaml --source "$tree"
