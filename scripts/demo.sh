#!/usr/bin/env bash
# `make demo`: what the project can show end to end so far; each pipeline stage joins here as it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
qganb=.venv/bin/qganb
recipes=(recipes/guest-set-watchdog-timeout.yaml recipes/guest-get-cpu-usage-rate.yaml)

echo "== 1. Fixture src.rpm: QEMU 7.2 packaged in the CentOS 7 style, from Debian's real QEMU source"
srpm=$("$qganb" testbed srpm --qemu 7.2 --style el7)
echo "$srpm"
rpm -qp --nosignature --qf 'NEVRA: %{NAME}-%{EPOCH}:%{VERSION}-%{RELEASE}.src\n' "$srpm"
echo "Patches it already carries (the new one goes above them):"
rpm -qp --nosignature --qf '[  %{PATCH}\n]' "$srpm"

echo
echo "== 2. The two seed recipes, validated on that QEMU tree before any RPM exists"
tree=$("$qganb" testbed tree --qemu 7.2)
"$qganb" recipe preview recipes/guest-get-cpu-usage-rate.yaml --source "$tree" | sed -n '1,/^--- diff/p'
"$qganb" recipe validate "${recipes[@]}" --source "$tree"

echo
echo "== 3. fetch, prep, edit, diff, spec, build: a patched qemu-guest-agent RPM"
run="runs/demo-$(date +%Y%m%d-%H%M%S)"
"$qganb" package --srpm "$srpm" --recipe "${recipes[0]}" --recipe "${recipes[1]}" --run "$run"
rpm=$(ls "$run"/rpmbuild/RPMS/*/*.rpm)

echo
echo "== 4. The RPM's own qemu-ga answers both new commands (unix socket, this host)"
"$qganb" recipe verify-rpm "${recipes[@]}" --rpm "$rpm"
echo "run directory: $run (manifest.json, logs/, patch/, rpmbuild/)"
