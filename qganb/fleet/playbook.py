"""The playbook a rollout runs, written into its directory for the operator to read and rerun.

Two plays: the first only lists the hosts the inventory and --limit select (no connection), so the
report can name the hosts a stopped rollout never reached; the second is the rollout, canary first
and in `serial` batches, stopped by Ansible when a batch fails beyond `max_fail_percentage`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from qganb.errors import RolloutError

INSTALL_TASK = "qganb install and verify"
TARGET_TASK = "qganb rollout target"
COLLECTION_ROOT = Path(__file__).resolve().parent / "collection"  # holds ansible_collections/qganb/fleet
SERIAL_ITEM = re.compile(r"^([1-9][0-9]*)(%?)$")


def parse_serial(text: str) -> list[int | str]:
    """`1,25%,100%` -> [1, "25%", "100%"]. The first batch is always one host (the canary): when
    the list does not start with 1, a batch of 1 goes first."""
    items: list[int | str] = []
    for word in (w.strip() for w in text.split(",")):
        found = SERIAL_ITEM.match(word)
        if found is None or (found.group(2) and int(found.group(1)) > 100):
            raise RolloutError(f"--serial {text!r}: {word!r} is not a batch size",
                               "give host counts or percentages (1-100%), comma-separated, e.g. 1,25%,100%")
        items.append(word if found.group(2) else int(found.group(1)))
    return items if items[0] == 1 else [1, *items]


TASK_TIMEOUT = 3600  # seconds: a host whose task outlives this is failed by Ansible (its guest side goes on)


def rollout_playbook(*, rpms: list[Path], recipes: list[Path], serial: list[int | str], max_fail_percentage: int,
                     log_dir: Path, install: dict[str, Any], check: bool = False) -> list[dict[str, Any]]:
    """The plays. In check mode every host is checked in one batch, whatever fails: a check changes
    nothing, so there is nothing for a canary or a threshold to protect."""
    if not 0 <= max_fail_percentage <= 100:
        raise RolloutError(f"--max-fail-percentage {max_fail_percentage} is not a percentage",
                           "give 0 (stop at the first failed host, the default) to 100")
    arguments = {
        "rpms": [str(p) for p in rpms], "recipes": [str(p) for p in recipes], "log_dir": str(log_dir),
        "domain": "{{ qganb_domain | default(inventory_hostname) }}",
        "uri": "{{ qganb_libvirt_uri | default('qemu:///system') }}",
        "host_flags": "{{ qganb_install_flags | default([]) }}", **install}
    return [
        {"name": "qganb: the hosts of this rollout", "hosts": "all", "gather_facts": False,
         "tasks": [{"name": TARGET_TASK, "ansible.builtin.set_fact": {"qganb_rollout_target": True}}]},
        {"name": "qganb check: every host" if check else "qganb rollout: canary first, then batches",
         "hosts": "all", "gather_facts": False,
         **({"ignore_errors": True} if check else {"serial": serial, "max_fail_percentage": max_fail_percentage}),
         "tasks": [{"name": INSTALL_TASK, "timeout": TASK_TIMEOUT, "qganb.fleet.agent_install": arguments}]},
    ]


def write_playbook(path: Path, plays: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Written by `qganb rollout`; run again with ansible-playbook -i INVENTORY this file\n"
                    "# (ANSIBLE_COLLECTIONS_PATH must include " + str(COLLECTION_ROOT) + ").\n"
                    + yaml.safe_dump(plays, sort_keys=False, width=120))
