#!/usr/bin/env bash
# Runs a command (the test suite) with its scratch files (TMPDIR: pytest's tmp_path, the run
# directories' rpmbuild trees, unpacked QEMU trees) on a RAM-backed tmpfs when the machine has room.
# The suite unpacks a 20 000-file QEMU tree dozens of times and deletes it again; on a disk mounted
# with `discard` each of those costs 5-25 s of kernel time, on tmpfs about 1 s.
#   QGANB_TEST_SCRATCH=DIR   use DIR instead;   QGANB_TEST_SCRATCH=disk   keep the usual TMPDIR.
set -uo pipefail

SHM=/dev/shm
NEED_SHM_KIB=$((10 * 1024 * 1024))  # the suite's peak in scratch is about 5.5 GiB; leave room
NEED_MEM_KIB=$((14 * 1024 * 1024))  # and for its guests (1 GiB each, five at most) and compilers
MAX_PATH=40  # ssh's ControlPath and gpg's sockets under TMPDIR allow about that much before them

say() { echo "test scratch: $*" >&2; }

# A failed run's scratch stays for a look; the next run removes those no running suite holds.
remove_stale() {
    local old
    for old in "$SHM"/qganb-tests.*; do
        [ -d "$old" ] || continue
        if flock -n "$old/.in-use" true 2>/dev/null; then
            say "removing the scratch of an earlier run that failed: $old"
            rm -rf "$old"
        fi
    done
}

choose() {
    if [ -n "${QGANB_TEST_SCRATCH:-}" ]; then
        [ "$QGANB_TEST_SCRATCH" = disk ] || realpath -m -- "$QGANB_TEST_SCRATCH"
        return
    fi
    if [ "$(findmnt -n -o FSTYPE --target "$SHM" 2>/dev/null | head -n 1)" != tmpfs ]; then
        say "no tmpfs mounted at $SHM: using ${TMPDIR:-/tmp}"
        return
    fi
    if findmnt -n -o OPTIONS --target "$SHM" | head -n 1 | tr ',' '\n' | grep -qx noexec; then
        say "$SHM is mounted noexec (the tests run the agents they build from it): using ${TMPDIR:-/tmp}"
        return
    fi
    remove_stale
    local shm_free mem_free
    shm_free=$(df -k --output=avail "$SHM" | tail -n 1 | tr -d ' ')
    mem_free=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
    if [ "${shm_free:-0}" -lt "$NEED_SHM_KIB" ] || [ "${mem_free:-0}" -lt "$NEED_MEM_KIB" ]; then
        say "$SHM has $((shm_free / 1024)) MiB free and the machine $((mem_free / 1024)) MiB available" \
            "(wanted $((NEED_SHM_KIB / 1024)) and $((NEED_MEM_KIB / 1024))): using ${TMPDIR:-/tmp}"
        return
    fi
    mktemp -d "$SHM/qganb-tests.XXXXXX"
}

scratch=$(choose)
if [ -z "$scratch" ]; then
    "$@"
    exit $?
fi
if [ "${#scratch}" -gt "$MAX_PATH" ]; then
    say "$scratch is longer than $MAX_PATH characters: the sockets the tests make under it would not fit;" \
        "pick a shorter QGANB_TEST_SCRATCH"
    exit 2
fi
if ! mkdir -p "$scratch"; then
    say "cannot make $scratch: pick another QGANB_TEST_SCRATCH, or QGANB_TEST_SCRATCH=disk"
    exit 2
fi
say "$scratch"
# Held while the suite runs: a later run's remove_stale leaves this directory alone.
exec 9>"$scratch/.in-use"
flock 9
TMPDIR="$scratch" "$@"
status=$?
if [ "$status" -eq 0 ] && [ -z "${QGANB_TEST_SCRATCH:-}" ]; then
    rm -rf "$scratch"
elif [ "$status" -ne 0 ]; then
    say "the failed tests' files are kept in $scratch ($(du -sh "$scratch" 2>/dev/null | cut -f1)); the next run removes them"
fi
exit "$status"
