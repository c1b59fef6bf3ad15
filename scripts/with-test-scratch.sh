#!/usr/bin/env bash
# Runs a command (the test suite) with its scratch files (TMPDIR: pytest's tmp_path, the run
# directories' rpmbuild trees, unpacked QEMU trees) on a RAM-backed tmpfs when the machine has room.
# The suite unpacks a 20 000-file QEMU tree dozens of times and deletes it again; on a disk mounted
# with `discard` each of those costs 5-25 s of kernel time, on tmpfs about 1 s.
#   QGANB_TEST_SCRATCH=DIR   use DIR instead;   QGANB_TEST_SCRATCH=disk   keep the usual TMPDIR.
set -uo pipefail

NEED_SHM_KIB=$((10 * 1024 * 1024))  # the suite's peak in scratch is about 3 GiB; leave room
NEED_MEM_KIB=$((14 * 1024 * 1024))  # and for its guests (1 GiB each, five at most) and compilers

say() { echo "test scratch: $*" >&2; }

choose() {
    local shm=/dev/shm
    if [ -n "${QGANB_TEST_SCRATCH:-}" ]; then
        [ "$QGANB_TEST_SCRATCH" = disk ] || echo "$QGANB_TEST_SCRATCH"
        return
    fi
    if [ "$(stat -f -c %T "$shm" 2>/dev/null)" != tmpfs ]; then
        say "no tmpfs at $shm: using ${TMPDIR:-/tmp}"
        return
    fi
    if findmnt -n -o OPTIONS --target "$shm" | tr ',' '\n' | grep -qx -e noexec -e nodev; then
        say "$shm is mounted noexec or nodev (the tests run the agents they build from it): using ${TMPDIR:-/tmp}"
        return
    fi
    local shm_free mem_free
    shm_free=$(df -k --output=avail "$shm" | tail -n 1 | tr -d ' ')
    mem_free=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
    if [ "${shm_free:-0}" -lt "$NEED_SHM_KIB" ] || [ "${mem_free:-0}" -lt "$NEED_MEM_KIB" ]; then
        say "$shm has $((shm_free / 1024)) MiB free and the machine $((mem_free / 1024)) MiB available" \
            "(wanted $((NEED_SHM_KIB / 1024)) and $((NEED_MEM_KIB / 1024))): using ${TMPDIR:-/tmp}"
        return
    fi
    mktemp -d "$shm/qganb-tests.XXXXXX"
}

scratch=$(choose)
if [ -z "$scratch" ]; then
    "$@"
    exit $?
fi
mkdir -p "$scratch"
say "$scratch"
TMPDIR="$scratch" "$@"
status=$?
if [ "$status" -eq 0 ] && [ -z "${QGANB_TEST_SCRATCH:-}" ]; then
    rm -rf "$scratch"
elif [ "$status" -ne 0 ]; then
    say "the failed tests' files are kept in $scratch"
fi
exit "$status"
