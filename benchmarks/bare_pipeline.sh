#!/usr/bin/env bash
# The seed's steps by hand, as an operator types them: the baseline `qganb run` is measured against.
# usage: bare_pipeline.sh SRPM PATCH WORKDIR SSH_PORT SSH_KEY KNOWN_HOSTS DOMAIN COMMAND_JSON
# RPMBUILD_HOST_ARGS (env, one per line): what rpmbuild needs on this Debian host (macros, python).
set -euo pipefail
srpm=$1 patch=$2 work=$3 port=$4 key=$5 known_hosts=$6 domain=$7 call=$8
top="$work/rpmbuild"
mapfile -t host_args <<<"${RPMBUILD_HOST_ARGS:-}"
ssh_opts=(-o BatchMode=yes -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$known_hosts" -i "$key")

# 1. rpm -i, rpmbuild -bp
rpm -i --define "_topdir $top" "$srpm"
spec="$top/SPECS/qemu-guest-agent.spec"
rpmbuild -bp --nodeps --define "_topdir $top" "${host_args[@]}" "$spec" >"$work/prep.log" 2>&1

# 2. copy the prepped tree into a fresh git repository and commit it
cp -a "$top/BUILD/qemu-7.2.0" "$work/src"
cd "$work/src"
git init -q
git add -A
git -c user.name=bench -c user.email=bench@localhost commit -q -m baseline --no-verify

# 3. the same source edit (the patch qganb generated), then git diff into SOURCES
git apply "$patch"
git diff >"$top/SOURCES/local.patch"

# 4. spec: PatchN after the last Patch line, %patch after the last %patch line, Release bumped
last_patch=$(grep -n '^Patch[0-9]*:' "$spec" | tail -n1 | cut -d: -f1)
sed -i "${last_patch}a Patch99: local.patch" "$spec"
last_apply=$(grep -n '^%patch' "$spec" | tail -n1 | cut -d: -f1)
sed -i "${last_apply}a %patch -P 99 -p1" "$spec"
sed -i 's/^\(Release:.*\)$/\1.bare1/' "$spec"

# 5. rpmbuild -bb
rpmbuild -bb --nodeps --define "_topdir $top" "${host_args[@]}" "$spec" >"$work/build.log" 2>&1
rpm_file=$(ls "$top"/RPMS/*/qemu-guest-agent-*.rpm)

# 6. scp, rpm -U, restart the agent
scp -q "${ssh_opts[@]}" -P "$port" "$rpm_file" root@127.0.0.1:/var/tmp/
ssh "${ssh_opts[@]}" -p "$port" root@127.0.0.1 rpm -U --nodeps "/var/tmp/$(basename "$rpm_file")"
ssh "${ssh_opts[@]}" -p "$port" root@127.0.0.1 systemctl restart qemu-guest-agent

# 7. virsh qemu-agent-command, retried until the restarted agent answers
for _ in $(seq 120); do
  if virsh -c qemu:///system qemu-agent-command "$domain" "$call" --timeout 5 >"$work/answer.json" 2>/dev/null; then
    cat "$work/answer.json"
    exit 0
  fi
  sleep 1
done
echo "the agent did not answer $call" >&2
exit 1
