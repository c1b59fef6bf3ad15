#!/usr/bin/env bash
# `make demo`: the whole workflow on the local testbed, as an operator would run it headless:
# fixture src.rpm -> test guest up -> `qganb run` with the two seed recipes -> virsh proves it.
set -euo pipefail
cd "$(dirname "$0")/.."
qganb=.venv/bin/qganb
started=$(date +%s)
recipes=(recipes/guest-set-watchdog-timeout.yaml recipes/guest-get-cpu-usage-rate.yaml)

# The guest first: on a first run its image (a Debian root, minutes) is built from nothing, and that
# starts at once, beside the fixture's build below.
echo "== 1. The test guest, a libvirt domain (TCG) running the stock agent, boots in the background"
echo "   (its lines are marked [testbed]) while the fixture is built and qganb run goes through the"
echo "   stages that do not need it; the install stage waits for it."
"$qganb" testbed down >/dev/null
guest_seconds=$(mktemp)
(
  began=$(date +%s)
  status=0
  "$qganb" testbed up 2>&1 | sed -u 's/^/[testbed] /' || status=$?
  echo "$(($(date +%s) - began))" >"$guest_seconds"
  exit "$status"
) &
guest_job=$!
stop_guest() {
  # The boot may still run when the demo stops early: end it, then stop the guest.
  pkill -TERM -P "$guest_job" 2>/dev/null || true
  wait "$guest_job" 2>/dev/null || true
  "$qganb" testbed down >/dev/null
  rm -f "$guest_seconds"
}
trap stop_guest EXIT

echo
echo "== 2. The default fixture src.rpm: QEMU 7.2 packaged in the CentOS 7 style, from Debian's real QEMU source"
fixture_started=$(date +%s)
srpm=$("$qganb" testbed srpm --qemu 7.2 --style el7)
rpm -qp --nosignature --qf '%{NAME}-%{EPOCH}:%{VERSION}-%{RELEASE}.src, patches:[ %{PATCH}]\n' "$srpm"
fixture_done=$(date +%s)

echo
echo "== 3. qganb run: the stage notebooks, headless with papermill (fetch ... verify)"
run="runs/demo-$(date +%Y%m%d-%H%M%S)"
"$qganb" run --srpm "$srpm" --recipe "${recipes[0]}" --recipe "${recipes[1]}" --run "$run"
if ! wait "$guest_job"; then
  echo "qganb testbed up failed (its lines are marked [testbed] above)" >&2
  exit 1
fi

echo
echo "== 4. Both new commands answer through libvirt"
for call in '{"execute":"guest-set-watchdog-timeout","arguments":{"timeout":60}}' '{"execute":"guest-get-cpu-usage-rate"}'; do
  echo "\$ virsh qemu-agent-command qganb-testbed '$call'"
  virsh -c qemu:///system qemu-agent-command qganb-testbed "$call"
done
echo "report: $run/report.html"
.venv/bin/python benchmarks/demo_stages.py "$run" "$((fixture_done - fixture_started))" "$(cat "$guest_seconds")" "$(($(date +%s) - started))"
echo "(the guest stops now; \`qganb testbed up\` boots it again in ~25 s)"
