"""Reading qemu-ga's configuration: which line blocks a command, and the line that would not."""

from __future__ import annotations

from qganb.guest.agent_config import AgentConfig, parse_unit

EL7_UNIT = """\
# /usr/lib/systemd/system/qemu-guest-agent.service
[Unit]
Description=QEMU Guest Agent

[Service]
EnvironmentFile=/etc/sysconfig/qemu-ga
ExecStart=/usr/bin/qemu-ga \\
  --method=virtio-serial \\
  --path=/dev/virtio-ports/org.qemu.guest_agent.0 \\
  --blacklist=${BLACKLIST_RPC} \\
  -F${FSFREEZE_HOOK_PATHNAME}
Restart=always
"""
EL7_SYSCONFIG = """\
# comment
BLACKLIST_RPC=guest-file-open,guest-exec,guest-set-watchdog-timeout

FSFREEZE_HOOK_PATHNAME=/etc/qemu-ga/fsfreeze-hook
"""
EL94_UNIT = """\
# /usr/lib/systemd/system/qemu-guest-agent.service
[Service]
EnvironmentFile=/etc/sysconfig/qemu-ga
ExecStart=/usr/bin/qemu-ga --method=virtio-serial --path=/dev/virtio-ports/org.qemu.guest_agent.0 $FILTER_RPC_ARGS -F${FSFREEZE_HOOK_PATHNAME}
"""
EL94_SYSCONFIG = 'FILTER_RPC_ARGS="--allow-rpcs=guest-ping,guest-info,guest-get-time"\n'


def config(unit: str, sysconfig: str) -> AgentConfig:
    exec_start, files = parse_unit(unit)
    assert files == ["/etc/sysconfig/qemu-ga"]
    return AgentConfig(exec_start, {"/etc/sysconfig/qemu-ga": sysconfig})


def test_a_blacklisted_command_names_the_sysconfig_line_and_its_fix() -> None:
    cfg = config(EL7_UNIT, EL7_SYSCONFIG)
    assert cfg.exec_start is not None and cfg.exec_start.number == 6  # line 6 of the file itself
    (blocked,) = cfg.blocked(["guest-set-watchdog-timeout", "guest-get-cpu-usage-rate"])
    assert str(blocked.line) == "/etc/sysconfig/qemu-ga:2: BLACKLIST_RPC=guest-file-open,guest-exec,guest-set-watchdog-timeout"
    assert blocked.replacement == "BLACKLIST_RPC=guest-file-open,guest-exec"
    new = cfg.unblocked_files([blocked])["/etc/sysconfig/qemu-ga"]
    assert new == EL7_SYSCONFIG.replace(",guest-set-watchdog-timeout", "")


def test_an_allow_list_disables_every_command_it_does_not_name() -> None:
    cfg = config(EL94_UNIT, EL94_SYSCONFIG)
    blocked = cfg.blocked(["guest-get-time", "guest-get-uptime"])
    assert [b.command for b in blocked] == ["guest-get-uptime"]
    assert blocked[0].how == "allow list"
    assert blocked[0].replacement == 'FILTER_RPC_ARGS="--allow-rpcs=guest-ping,guest-info,guest-get-time,guest-get-uptime"'


def test_a_list_written_in_the_unit_itself_needs_a_drop_in() -> None:
    unit = EL7_UNIT.replace("--blacklist=${BLACKLIST_RPC}", "--block-rpcs=guest-exec,guest-get-uptime")
    (blocked,) = config(unit, EL7_SYSCONFIG).blocked(["guest-get-uptime"])
    assert blocked.replacement is None and "drop-in" in blocked.advice()
    assert blocked.line.path == "/usr/lib/systemd/system/qemu-guest-agent.service"


def test_a_drop_in_that_resets_exec_start_wins() -> None:
    unit = EL7_UNIT + "\n# /etc/systemd/system/qemu-guest-agent.service.d/override.conf\n[Service]\nExecStart=\n" \
        "ExecStart=/usr/bin/qemu-ga --method=virtio-serial\n"
    cfg = config(unit, EL7_SYSCONFIG)
    assert cfg.exec_start is not None and cfg.exec_start.path.endswith("override.conf")
    assert cfg.blocked(["guest-set-watchdog-timeout"]) == []


def test_an_empty_list_blocks_nothing() -> None:
    assert config(EL7_UNIT, "BLACKLIST_RPC=\n").blocked(["guest-get-uptime"]) == []
