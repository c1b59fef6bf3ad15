"""The package repository the dnf testbed guest carries: a directory of RPMs with createrepo_c
metadata and a /etc/yum.repos.d file pointing at it (file://), made in the image and able to take
newer builds later, so that dnf installs the stock agent from it and `dnf download` finds the
package a rollback needs."""

from __future__ import annotations

from pathlib import Path

from qganb.guest.ssh import SshClient
from qganb.process import run

REPO_ID = "qganb-testbed"
REPO_DIR = "/srv/qganb-repo"
REPO_FILE = f"/etc/yum.repos.d/{REPO_ID}.repo"
REPO_CONFIG = f"""[{REPO_ID}]
name=qganb testbed: the stock qemu-guest-agent and the builds published to this guest
baseurl=file://{REPO_DIR}
enabled=1
# The fixture RPMs are built unsigned on the testbed host; the repository is a directory of the
# guest itself, filled only by the image build and by `publish`.
gpgcheck=0
# Reading file:// metadata is cheap: a build published a moment ago is seen at once.
metadata_expire=0
"""


def make_in_image(root: Path, rpms: list[Path], log_path: Path | None = None) -> None:
    """The repository in the image at `root` with `rpms`, indexed by the image's own createrepo_c."""
    repo = root / REPO_DIR.lstrip("/")
    repo.mkdir(parents=True, exist_ok=True)
    for rpm in rpms:
        (repo / rpm.name).write_bytes(rpm.read_bytes())
    config = root / REPO_FILE.lstrip("/")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(REPO_CONFIG)
    run(["chroot", root, "createrepo_c", "--quiet", REPO_DIR], log_path=log_path, timeout=300)


def publish(ssh: SshClient, rpms: list[Path]) -> None:
    """Add `rpms` to the guest's repository and index it again, so dnf on the guest offers them."""
    ssh.upload(rpms, REPO_DIR)
    ssh.run(["createrepo_c", "--quiet", "--update", REPO_DIR], as_root=True, timeout=300)


def published(ssh: SshClient) -> list[str]:
    """The NEVRAs the guest's dnf sees in this repository."""
    done = ssh.run(["dnf", "-q", f"--repo={REPO_ID}", "repoquery", "--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}"],
                   as_root=True, timeout=300)
    return sorted(done.stdout.split())
