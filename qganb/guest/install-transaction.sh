#!/bin/sh
# qganb's install transaction, run on the guest as root. It runs detached from the SSH session (a
# transient systemd unit where systemd runs, else setsid; stdin from /dev/null, output to a file),
# so neither a lost connection nor the end of the SSH session can stop it half-way: it ends either
# with the new package and an active agent, or with the previous package restored.
# One transaction at a time: /run/qganb-install.lock names the state directory of the one running.
#
#   install-transaction.sh start STATE_DIR           check the uploaded previous package, take the lock,
#                                                    start "apply" detached, return
#   install-transaction.sh start-restore STATE_DIR   start "restore" detached and return at once
#   install-transaction.sh confirm STATE_DIR DIGEST  the new agent answered: check the rpm database holds
#                                                    the build with header digest DIGEST and the agent is
#                                                    still the process the restart started, a second on;
#                                                    if both hold, release
#   install-transaction.sh release STATE_DIR         the transaction is over: drop it and the lock
#   install-transaction.sh wait STATE_DIR OFFSET SECONDS PHASE
#       wait up to SECONDS for the status or a phase other than PHASE; print "status ...",
#       "running" or "gone" (the script died without a status), then the log from byte OFFSET on.
#       One SSH round trip per poll, and progress shows as each phase starts.
#
# STATE_DIR holds what qganb uploaded, one argument per line in the *.argv files:
#   install.argv   the command installing the new package
#   restore.argv   the command putting the previous package back
#   no-previous    (optional) the package was not installed before: restore only removes it
#   service        the agent's systemd unit
#   config.path + config.new  (optional) the agent's EnvironmentFile and its new content
#   digest.argv    (optional) the query printing the installed package's header digest
#   previous.argv + previous.expect  (optional) the query of the uploaded previous RPM and what it must print
# and receives: phase (the step running now), log, status (written once, at the end).
# No argument is ever interpreted by a shell: each line becomes one word of "$@".
mode=$1
state=$2
lock=/run/qganb-install.lock
service=$(cat "$state/service" 2>/dev/null)

say() {
    echo "qganb: $*"
}

phase() {
    # The log line first: a poll that sees the new phase then finds its line in the log.
    say "phase $1"
    echo "$1" >"$state/phase.tmp" && mv -f "$state/phase.tmp" "$state/phase"
}

finish() {
    # The log line first: once the status exists, the log is complete.
    say "status $*"
    echo "$*" >"$state/status.tmp" && mv -f "$state/status.tmp" "$state/status"
    exit 0
}

run_argv() {
    say "running: $(paste -sd ' ' "$state/$1")"
    quiet_argv "$1"
}

quiet_argv() {
    argv_file="$state/$1"
    set --
    while IFS= read -r word; do
        set -- "$@" "$word"
    done <"$argv_file"
    "$@"
}

sample() {
    # One `systemctl show` for what the restart needs: each systemctl call costs 0.15-0.4 s on a small
    # emulated guest. Sets state_now, pid, reload and since (the main process's start in µs since
    # boot; empty where systemd does not say). systemd 219 on EL7 has no `show --value`.
    state_now=""
    pid=""
    reload=""
    since=""
    for pair in $(systemctl show -p ActiveState -p MainPID -p NeedDaemonReload \
            -p ExecMainStartTimestampMonotonic "$service"); do
        case $pair in
            ActiveState=*) state_now=${pair#*=} ;;
            MainPID=*) pid=${pair#*=} ;;
            NeedDaemonReload=*) reload=${pair#*=} ;;
            ExecMainStartTimestampMonotonic=*) since=${pair#*=} ;;
        esac
    done
}

restarted_by_package() {
    # True when the package's own scriptlet restarted the agent (EL's %systemd_postun_with_restart
    # does): the main process is active, started after the install began ($1, seconds since boot),
    # runs the binary now on disk (one started before rpm replaced it shows its exe as deleted), and
    # the unit on disk is the one loaded. A second restart would add nothing.
    sample
    [ "$state_now" = active ] && [ "$reload" = no ] && [ -n "$pid" ] && [ "$pid" != 0 ] || return 1
    awk -v us="$since" -v began="$1" 'BEGIN { exit !(us != "" && us / 1000000 > began) }' || return 1
    exe=$(readlink "/proc/$pid/exe") || return 1
    case $exe in
        "" | *" (deleted)") return 1 ;;
    esac
    return 0
}

restart_agent() {
    # Every systemctl call counts on a small guest, so the common case is one restart and one sample.
    # The start limit also counts restarts of a unit that is active now (a crash loop, a rollback a
    # moment ago): a restart it refuses is retried once after reset-failed.
    restart_once || return 1
    sample
    # A package that changed the unit on disk without a daemon-reload of its own: the restart above
    # ran the old definition. daemon-reload is slow on small guests, so only then.
    if [ "$reload" = yes ]; then
        systemctl daemon-reload && restart_once && sample
    fi
}

restart_once() {
    systemctl restart "$service" 2>/dev/null && return 0
    systemctl reset-failed "$service" 2>/dev/null
    systemctl restart "$service"
}

status_tail() {
    systemctl status --no-pager "$service" 2>&1 | tail -n 15
}

restart_and_wait() {
    restart_agent || { status_tail; return 1; }
    # With Restart=always (RestartSec=0 on EL) a crashing agent looks active between restarts:
    # require two samples a second apart, both active with the same main PID. A crash between
    # them shows as a new PID. The first sample is the restart's own: the window is one second.
    tries=1
    last=$pid
    [ "$state_now" = failed ] && tries=30
    while [ "$tries" -lt 30 ]; do
        sleep 1
        tries=$((tries + 1))
        sample
        if [ "$state_now" = active ] && [ "$pid" != 0 ] && [ "$pid" = "$last" ]; then
            return 0
        fi
        last=$pid
        [ "$state_now" = failed ] && break
    done
    status_tail
    return 1
}

restart_and_note() {
    # The install's restart. An agent that dies at start shows here, as a new PID or a failed unit in
    # two samples 0.3 s apart; the full stability window (the same active main PID a second after the
    # first sample) is checked by `confirm`, after libvirt has seen the new agent answer, so most of
    # the window passes while qganb checks the agent. Notes the PID and when (seconds since boot).
    # $1: when the install began (seconds since boot); with no configuration change waiting, an agent
    # the package's scriptlet restarted since then is not restarted again.
    if [ -n "$1" ] && [ ! -f "$state/config.new" ] && restarted_by_package "$1"; then
        say "the package restarted $service (main PID $pid, running the installed binary): no second restart"
    else
        restart_agent || { status_tail; return 1; }
    fi
    first=$(cut -d' ' -f1 /proc/uptime)
    # The sample just taken is the first. The build now in the rpm database is read between the first
    # two samples, in the time the gap waits anyway; `confirm` compares it with the upload.
    tries=1
    last=$pid
    [ "$state_now" = failed ] && tries=50
    if [ -f "$state/digest.argv" ]; then
        installed_digest >"$state/digest" 2>/dev/null &
    fi
    while [ "$tries" -lt 50 ]; do
        sleep 0.3
        wait
        tries=$((tries + 1))
        now=$(cut -d' ' -f1 /proc/uptime)
        sample
        if [ "$state_now" = active ] && [ "$pid" != 0 ] && [ "$pid" = "$last" ]; then
            echo "$pid $first" >"$state/started"
            return 0
        fi
        last=$pid
        first=$now
        [ "$state_now" = failed ] && break
    done
    status_tail
    return 1
}

confirm() {
    # The new agent answered through libvirt. The rpm database must hold the very build uploaded
    # (header digest $1: a repository or a scriptlet may have put another build of the same NEVRA
    # there), and the agent must still be the process the restart started, a second or more after it
    # started. Then the transaction is over: release it. Otherwise say so and keep everything for the
    # restore. The digest was read after the restart; a transaction resumed from before reads it now.
    expected=$1
    read -r started since <"$state/started" || { echo "unstable no-record"; return 0; }
    if [ -n "$expected" ] && [ -f "$state/digest.argv" ]; then
        found=$(tail -n 1 "$state/digest" 2>/dev/null)
        [ -n "$found" ] || found=$(installed_digest 2>/dev/null | tail -n 1)
        if [ "$found" != "$expected" ]; then
            echo "digest ${found:-unreadable}"
            return 0
        fi
    fi
    left=$(awk -v since="$since" '{ d = since + 1 - $1; if (d > 0) printf "%.2f", d; else print 0 }' /proc/uptime)
    [ "$left" != 0 ] && sleep "$left"
    sample
    if [ "$state_now" = active ] && [ "$pid" = "$started" ]; then
        [ "$(readlink "$lock" 2>/dev/null)" = "$state" ] && rm -f "$lock"
        rm -rf -- "$state"
        echo stable
        return 0
    fi
    echo "unstable $state_now $pid (started as $started)"
    status_tail
}

wait_for_status() {
    offset=$1
    quarters=$(($2 * 4))
    seen=$3
    if [ ! -f "$state/status" ] && command -v flock >/dev/null 2>&1; then
        # The detached script runs under flock: the lock comes free the moment it exits, so the
        # status is seen at once, without polling (phases then show with the next answer). Its pid
        # file, its first act, says it holds the lock (at most 5 s after its start).
        twentieths=100
        while [ ! -f "$state/pid" ] && [ "$twentieths" -gt 0 ]; do
            sleep 0.05
            twentieths=$((twentieths - 1))
        done
        if [ -f "$state/running.lock" ]; then
            flock -s -w "$2" "$state/running.lock" true 2>/dev/null
            quarters=0
        fi
    fi
    while [ ! -f "$state/status" ] && [ "$quarters" -gt 0 ]; do
        now=""
        [ -f "$state/phase" ] && read -r now <"$state/phase"
        # No phase yet: the detached script is starting, which is no change to report.
        [ -n "$now" ] && [ "$now" != "$seen" ] && break
        sleep 0.25
        quarters=$((quarters - 1))
    done
    if [ -f "$state/status" ]; then
        echo "status $(cat "$state/status")"
    elif [ -f "$state/pid" ] && ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
        echo gone
    else
        echo running
    fi
    tail -c "+$((offset + 1))" "$state/log" 2>/dev/null
    return 0
}

restore() {
    failed_step=$1
    phase restore
    if ! run_argv restore.argv; then
        finish "restore-failed $failed_step"
    fi
    if [ -f "$state/config.orig" ]; then
        cp -f "$state/config.orig" "$(cat "$state/config.path")"
    fi
    if [ -f "$state/no-previous" ]; then
        # The package was not there before: removing it is the whole restore. An agent from
        # elsewhere may have left its own unit; restart it only when it still exists.
        systemctl daemon-reload
        if [ -z "$(systemctl show -p FragmentPath "$service" 2>/dev/null | cut -d= -f2-)" ]; then
            finish "removed $failed_step"
        fi
    fi
    if restart_and_wait; then
        finish "restored $failed_step"
    fi
    finish "restore-failed $failed_step"
}

take_lock() {
    # ln -s is atomic: of two installs starting at once, one gets the lock.
    if ln -s "$state" "$lock" 2>/dev/null; then
        return 0
    fi
    holder=$(readlink "$lock")
    if [ -n "$holder" ] && [ "$holder" != "$state" ] && [ ! -d "$holder" ]; then
        # The holder's state directory is gone (removed by hand): the lock is stale.
        rm -f "$lock"
        ln -s "$state" "$lock" 2>/dev/null && return 0
        holder=$(readlink "$lock")
    fi
    [ "$holder" = "$state" ] && return 0
    echo "locked $holder"
    exit 3
}

launch() {
    # A transient unit is outside the SSH session's cgroup, so logind cannot end it with the
    # session; setsid is the fallback on guests without systemd.
    # Under flock (util-linux) the script holds $state/running.lock while it runs, which `wait`
    # blocks on; -o keeps the lock's descriptor from the script's children (a scriptlet's daemon
    # must not hold it).
    what=$1
    if command -v flock >/dev/null 2>&1; then
        set -- flock -o "$state/running.lock" sh "$0" "$what" "$state"
    else
        set -- sh "$0" "$what" "$state"
    fi
    started=""
    if command -v systemd-run >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemd-run --unit="qganb-install-${state##*.}-$what" --description="qganb install transaction" \
            "$@" >/dev/null 2>&1 && started=yes
    fi
    if [ -z "$started" ]; then
        setsid "$@" </dev/null >/dev/null 2>&1 &
    fi
}

apply() {
    began=$(cut -d' ' -f1 /proc/uptime)
    phase install
    if ! run_argv install.argv; then
        restore install
    fi
    if [ -f "$state/config.new" ]; then
        phase configure
        path=$(cat "$state/config.path")
        # cp onto the existing file keeps its owner, mode and SELinux label.
        cp -f "$path" "$state/config.orig" && cp -f "$state/config.new" "$path" || restore configure
    fi
    phase restart
    if ! restart_and_note "$began"; then
        restore restart
    fi
    finish installed
}

installed_digest() {
    quiet_argv digest.argv
}

check_previous() {
    # The previous package uploaded for the restore must read, with the guest's own rpm, as the one
    # installed: a guest rpm that cannot read it could not put it back.
    [ -f "$state/previous.argv" ] || return 0
    seen=$(quiet_argv previous.argv 2>/dev/null | tail -n 1)
    expected=$(cat "$state/previous.expect")
    if [ "$seen" != "$expected" ]; then
        echo "previous $seen"
        exit 4
    fi
}

case "$mode" in
    start)
        check_previous
        take_lock
        rm -f "$state/pid"
        launch apply
        ;;
    start-restore)
        rm -f "$state/status" "$state/pid"
        launch restore-after-check
        ;;
    apply)
        exec </dev/null >>"$state/log" 2>&1
        echo $$ >"$state/pid"
        apply
        ;;
    wait)
        wait_for_status "$3" "$4" "$5"
        ;;
    restore-after-check)
        exec </dev/null >>"$state/log" 2>&1
        echo $$ >"$state/pid"
        restore "$(cat "$state/check-failed" 2>/dev/null || echo agent-check)"
        ;;
    confirm)
        confirm "$3"
        ;;
    release)
        [ "$(readlink "$lock" 2>/dev/null)" = "$state" ] && rm -f "$lock"
        rm -rf -- "$state"
        ;;
    *)
        echo "usage: $0 start|start-restore|release STATE_DIR | confirm STATE_DIR DIGEST | wait STATE_DIR OFFSET SECONDS PHASE" >&2
        exit 2
        ;;
esac
