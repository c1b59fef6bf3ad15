#!/bin/sh
# qganb's look at a guest before an install: every read in one session, changing nothing. Each rpm,
# systemctl or dnf start costs a guest CPU time that a small emulated guest feels; one session for all
# of them saves the many others that separate reads would open. Read from stdin by `sh -s`:
#
#   sh -s -- LOCK SERVICE INSTALLER STATE COUNT [BOOLEAN...] RPM_QUERY_ARGV... < facts-probe.sh
#
# LOCK: the install lock (a symlink naming the running transaction's state directory); SERVICE: the
# agent's unit; INSTALLER: auto (the first of dnf, yum that answers --version, else rpm) or the one
# asked for, which is not probed; STATE: `-`, or the mktemp template of the install's state
# directory, made here to save a round trip (the one change the probe makes); COUNT SELinux booleans
# to read when SELinux is on; the rest is the rpm query of the installed package.
# The first read is the user id: a session that is not root makes the state directory (as that user,
# who uploads into it) and reads nothing else; qganb then runs the probe again through sudo.
#
# Prints one section per read: a line "@@qganb-fact NAME EXIT_CODE", then what the read printed.
# No argument is ever interpreted by a shell: each one is a word of "$@".
lock=$1
service=$2
installer=$3
state=$4
count=$5
shift 5

fact() {
    echo "@@qganb-fact $1 $2"
    [ -n "$3" ] && printf '%s\n' "$3"
    return 0
}

uid=$(id -u)
fact uid $? "$uid"
# Made as the connecting user, before any sudo: the upload (scp, as that user) writes into it.
if [ "$state" != - ]; then
    made=$(mktemp -d "$state")
    fact state $? "$made"
fi
[ "$uid" = 0 ] || exit 0

holder=$(readlink "$lock" 2>/dev/null)
fact lock $? "$holder"
if [ -n "$holder" ]; then
    test -d "$holder"
    fact lock-alive $? ""
fi

if [ "$installer" = auto ]; then
    installer=rpm
    for tool in dnf yum; do
        if "$tool" --version >/dev/null 2>&1; then
            installer=$tool
            break
        fi
    done
fi
fact installer 0 "$installer"

unit=$(systemctl cat "$service" 2>/dev/null)
fact unit $? "$unit"
# The EnvironmentFiles the unit names on a line of their own, byte for byte (base64): a read here
# saves a round trip per file. qganb reads any other the unit names apart.
printf '%s\n' "$unit" | while IFS= read -r line; do
    case $line in
        EnvironmentFile=*)
            file=${line#EnvironmentFile=}
            file=${file#-}
            content=$(base64 <"$file" 2>/dev/null)
            fact "env:$file" $? "$content"
            ;;
    esac
done

mode=$(getenforce 2>/dev/null)
status=$?
fact getenforce $status "$mode"
while [ "$count" -gt 0 ]; do
    case "$status:$mode" in
        0:Enforcing | 0:Permissive)
            answer=$(getsebool "$1" 2>/dev/null)
            fact "getsebool:$1" $? "$answer"
            ;;
    esac
    shift
    count=$((count - 1))
done

# Last: the rpm query is the slowest read, and the remaining words are its argv.
installed=$("$@" 2>/dev/null)
fact rpm $? "$installed"
