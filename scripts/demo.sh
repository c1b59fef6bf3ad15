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

echo
echo "== 5. The test guest: a libvirt domain running the stock agent"
"$qganb" testbed up
trap '"$qganb" testbed down' EXIT
virsh -c qemu:///system qemu-agent-command qganb-testbed '{"execute":"guest-info"}' \
  | python3 -c 'import json,sys; i=json.load(sys.stdin)["return"]; print("stock qemu-ga", i["version"], "with", len(i["supported_commands"]), "commands; guest-set-watchdog-timeout listed:", any(c["name"]=="guest-set-watchdog-timeout" for c in i["supported_commands"]))'

echo
echo "== 6. install over SSH (pinned host key), restart the agent, roll back if it does not answer"
"$qganb" install --run "$run"

echo
echo "== 7. The new commands answer through virsh"
for call in '{"execute":"guest-set-watchdog-timeout","arguments":{"timeout":60}}' '{"execute":"guest-get-cpu-usage-rate"}'; do
  echo "\$ virsh qemu-agent-command qganb-testbed '$call'"
  virsh -c qemu:///system qemu-agent-command qganb-testbed "$call"
done
"$qganb" verify --run "$run"
echo "run directory: $run (manifest.json, logs/, patch/, rpmbuild/, verification.json)"
echo "(the guest stops now; \`qganb testbed up\` boots it again in ~25 s)"
