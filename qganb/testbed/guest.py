"""The local test guest: a real libvirt domain (TCG) booting a Debian image with systemd, udev,
OpenSSH, rpm and the stock fixture qemu-guest-agent RPM installed through rpm.

A second variant, `dnf`, adds Debian's dnf and createrepo_c: its stock agent comes from a package
repository the image carries (qganb.testbed.local_repo) and is installed by dnf, with the rpm
database told what the Debian system supplies (qganb.testbed.system_provides). It is its own
domain, port, image and run directory, so both variants can run side by side.

The image is built once from Debian packages (debootstrap, then `mkfs.ext4 -d`, no loop mounts) and
cached by a content key. Each `up` boots a fresh copy-on-write overlay of it. SSH goes only through
a host port forward on 127.0.0.1, with a key pair and a guest host key that the testbed generates
and pins in its own known_hosts file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from qganb import file_lock, paths
from qganb.digests import sha256_of
from qganb.errors import TestbedError
from qganb.agent.transport import wait_for_agent
from qganb.agent.virsh import VirshAgent
from qganb.guest.ssh import SshClient, SshTarget, ssh_option_path
from qganb.process import LineSink, require_tool, run
from qganb.rpm.kept_packages import keep_rpm
from qganb.rpm.query import HEADER_DIGEST_QUERY, NEVRA_QUERY, Nevra, header_digest_of, installed_query_argv, nevra_of
from qganb.rpm.rpmbuild import rebuild_srpm
from qganb.testbed import libvirt_host, local_repo, system_provides
from qganb.testbed.debian_sources import DEFAULT_MIRROR
from qganb.testbed.fixture_srpm import build_fixture_srpm

DOMAIN = "qganb-testbed"
SUITE = "bookworm"
GUEST_PACKAGES = [
    "systemd-sysv", "udev", "openssh-server", "rpm", "iproute2", "ifupdown", "isc-dhcp-client",
    "linux-image-amd64", "sudo", "procps", "kmod", "libglib2.0-0",
    "libgoogle-perftools4",  # CentOS 7's 2.12 agent is linked with tcmalloc (--enable-tcmalloc)
]
IMAGE_FORMAT = 2  # 2: the seed unit (a fleet guest's own host key and hostname)
IMAGE_SIZE = "2G"
STOCK_FIXTURE = ("7.2", "el7")
DNF_IMAGE_FORMAT = 1
SEED_UNIT = "qganb-guest-seed.service"
# Fedora ships dnf's "local" plugin in a package of its own that is not installed by default;
# Debian's dnf-plugins-core carries every plugin and enables it. It makes every install fail on a
# guest without GPG keys ("Problem repository: [_dnf_local]"), so the image turns it off.
DNF_LOCAL_PLUGIN_OFF = """# qganb: off, as on Fedora, where this plugin is a separate package not installed by default.
[main]
enabled = false
"""


@dataclass(frozen=True)
class Variant:
    """One kind of test guest: its own domain, SSH port, image directory and run directory."""

    name: str
    domain: str
    extra_packages: tuple[str, ...]
    port_variable: str
    default_port: int
    subdirectory: str  # of testbed_dir(); "" for the default variant, whose layout predates variants

    @property
    def packages(self) -> list[str]:
        return GUEST_PACKAGES + list(self.extra_packages)

    @property
    def home(self) -> Path:
        path = testbed_dir() / self.subdirectory if self.subdirectory else testbed_dir()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def uses_dnf(self) -> bool:
        return "dnf" in self.extra_packages


VARIANTS = {
    "default": Variant("default", DOMAIN, (), "QGANB_TESTBED_SSH_PORT", 22222, ""),
    "dnf": Variant("dnf", "qganb-testbed-dnf", ("dnf", "dnf-plugins-core", "createrepo-c"),
                   "QGANB_TESTBED_DNF_SSH_PORT", 22230, "dnf"),
}


def variant_named(name: str) -> Variant:
    if name not in VARIANTS:
        raise TestbedError(f"no testbed variant {name!r}", f"pick one of {', '.join(VARIANTS)}")
    return VARIANTS[name]


def domain_name(variant: str = "default") -> str:
    return variant_named(variant).domain


@dataclass(frozen=True)
class GuestImage:
    directory: Path

    @property
    def disk(self) -> Path:
        return self.directory / "root.ext4"

    @property
    def kernel(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"

    @property
    def client_key(self) -> Path:
        return self.directory / "keys" / "id_ed25519"

    @property
    def host_public_key(self) -> str:
        """`ssh-ed25519 AAAA...` of the guest's only host key, for the pinned known_hosts."""
        return " ".join((self.directory / "keys" / "ssh_host_ed25519_key.pub").read_text().split()[:2])

    def info(self) -> dict[str, str]:
        return json.loads((self.directory / "image.json").read_text())


def ssh_port(variant: str = "default") -> int:
    chosen = variant_named(variant)
    return int(os.environ.get(chosen.port_variable, str(chosen.default_port)))


def testbed_dir() -> Path:
    path = paths.cache_dir() / "testbed"
    path.mkdir(parents=True, exist_ok=True)
    return path


AGENT_PACKAGE = "qemu-guest-agent"
REBUILD_LOG = "rebuild.log"  # kept beside a stock build: what its %prep and %build did


def stock_agent_rpm(on_line: LineSink | None = None) -> Path:
    """The unpatched binary RPM of the default fixture, rebuilt once and cached."""
    return stock_rpm(build_fixture_srpm(*STOCK_FIXTURE).path, on_line)


def cached_stock_rpm(source: Path) -> Path | None:
    """The unpatched rebuild of the src.rpm `source` when it is in the cache (nothing is built)."""
    final = testbed_dir() / f"stock-{sha256_of(source)[:16]}"
    built = sorted(final.glob("*.rpm"))
    return built[0] if built and (final / REBUILD_LOG).is_file() else None


def stock_rpm(source: Path, on_line: LineSink | None = None) -> Path:
    """The agent RPM a guest starts from: `source` itself when it is a binary RPM; when it is a
    src.rpm, its unpatched rebuild, made once and cached by the src.rpm's digest."""
    package = nevra_of(source)
    if not package.is_source:
        if package.name != AGENT_PACKAGE:
            raise TestbedError(f"{source} is {package}, not a {AGENT_PACKAGE} package",
                               f"give a {AGENT_PACKAGE} RPM, or the src.rpm it is built from")
        return source
    final = testbed_dir() / f"stock-{sha256_of(source)[:16]}"
    if (cached := cached_stock_rpm(source)) is not None:
        return cached
    # `make demo` boots the guest (which may rebuild this) while its install stage asks for it too:
    # the second one waits for the first one's build instead of compiling it again.
    with file_lock.held(final.with_name(final.name + ".lock"), on_wait=on_line,
                        what=f"the stock rebuild of {source.name}"):
        if (cached := cached_stock_rpm(source)) is not None:
            return cached
        return _rebuild_stock(source, final, on_line)


def _rebuild_stock(source: Path, final: Path, on_line: LineSink | None) -> Path:
    shutil.rmtree(final, ignore_errors=True)  # made before builds kept their log
    # The build tree (a whole unpacked QEMU) goes to the temporary directory, only the result to the
    # cache: where that is a tmpfs, unpacking and deleting 20 000 files costs a fraction.
    scratch = Path(tempfile.mkdtemp(prefix="qganb-stock-"))
    staging = Path(tempfile.mkdtemp(prefix=".stock-", dir=testbed_dir()))
    try:
        packages = rebuild_srpm(source, scratch / "rpmbuild", log=scratch / "rebuild.log", on_line=on_line)
        agent = [p.path for p in packages if nevra_of(p.path).name == AGENT_PACKAGE]
        if not agent:
            raise TestbedError(f"{source.name} builds no {AGENT_PACKAGE} package "
                               f"(it built {', '.join(p.path.name for p in packages) or 'nothing'})",
                               f"give the src.rpm of {AGENT_PACKAGE}, or a binary RPM with --stock")
        shutil.move(str(agent[0]), staging / agent[0].name)
        shutil.move(str(scratch / "rebuild.log"), staging / REBUILD_LOG)
        os.replace(staging, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    return next(final.glob("*.rpm"))


def running_agent_package(ssh: SshClient) -> tuple[str, str]:
    """(NEVRA, header digest) of the guest's installed agent package; ("", "") when there is none."""
    done = ssh.run(installed_query_argv(AGENT_PACKAGE, NEVRA_QUERY.rstrip("\n") + "\t" + HEADER_DIGEST_QUERY),
                   check=False)
    if done.returncode != 0:
        return "", ""
    *fields, digest = done.stdout.strip().split("\t")
    return str(Nevra.parse_query("\t".join(fields) + "\n")), digest


def start_from(stock: Path, on_line: LineSink | None = None, *, target: SshTarget | None = None,
               domain: str = DOMAIN) -> bool:
    """Make the running guest run the very build `stock` as its agent package, up or down from what it
    has, as a guest that shipped with it would; True when it had to change. Ends with the agent
    answering, and `stock` kept as the rollback source of the next install.

    `target` and `domain` name another testbed guest (a fleet guest); the default guest otherwise."""
    wanted = str(nevra_of(stock))
    keep_rpm(stock)
    with SshClient(target or ssh_target()) as ssh:
        # Rebuilds share a NEVRA: only the header digest says it is this very build.
        if running_agent_package(ssh) == (wanted, header_digest_of(stock)):
            return False
        if on_line is not None:
            on_line(f"testbed: {'the guest' if domain == DOMAIN else domain} starts from {wanted}")
        remote = ssh.run(["mktemp", "-d", "/var/tmp/qganb-stock.XXXXXX"]).stdout.strip()
        ssh.upload([stock], remote)
        # The guest's rpm database is Debian's, empty of what the package requires: --nodeps.
        ssh.run(["rpm", "-U", "--nodeps", "--oldpackage", "--replacepkgs", "--force", f"{remote}/{stock.name}"])
        ssh.run(["rm", "-rf", remote])
        ssh.run(["systemctl", "restart", "qemu-guest-agent"])
    wait_for_agent(VirshAgent(domain), timeout=120)
    return True


def _image_key(stock_rpm: Path, variant: Variant) -> str:
    # The stock build is named by its src.rpm's digest (stock_rpm): an input, stable across rebuilds,
    # where the binary RPM's own bytes change with every build time.
    material = json.dumps([IMAGE_FORMAT, SUITE, variant.packages, IMAGE_SIZE, stock_rpm.name, stock_rpm.parent.name]
                          + ([variant.name, DNF_IMAGE_FORMAT] if variant.uses_dnf else []))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _configure_root(root: Path, keys: Path) -> None:
    _write(root / "etc/hostname", "qganb-guest\n")
    _write(root / "etc/hosts", "127.0.0.1 localhost\n127.0.1.1 qganb-guest\n")
    _write(root / "etc/fstab", "/dev/vda / ext4 defaults 0 1\n")
    _write(root / "etc/network/interfaces", "auto lo\niface lo inet loopback\nauto eth0\niface eth0 inet dhcp\n")
    _write(root / "root/.ssh/authorized_keys", (keys / "id_ed25519.pub").read_text(), 0o600)
    (root / "root/.ssh").chmod(0o700)
    for old in (root / "etc/ssh").glob("ssh_host_*"):
        old.unlink()
    shutil.copyfile(keys / "ssh_host_ed25519_key", root / "etc/ssh/ssh_host_ed25519_key")
    (root / "etc/ssh/ssh_host_ed25519_key").chmod(0o600)
    shutil.copyfile(keys / "ssh_host_ed25519_key.pub", root / "etc/ssh/ssh_host_ed25519_key.pub")
    _write(root / "etc/ssh/sshd_config.d/qganb.conf",
           "HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n")
    # One image serves every fleet guest; each one's own host key and hostname come from a seed disk.
    _write(root / "etc/systemd/system" / SEED_UNIT, _template(SEED_UNIT))
    _write(root / "usr/local/sbin/qganb-guest-seed", _template("qganb-guest-seed.sh"), 0o755)


def _template(name: str) -> str:
    return resources.files("qganb.testbed").joinpath("templates", name).read_text(encoding="utf-8")


def _install_agent_with_rpm(root: Path, stock: Path, scratch: Path) -> dict[str, object]:
    shutil.copyfile(stock, root / "tmp" / stock.name)
    run(["chroot", root, "rpm", "-i", "--nodeps", f"/tmp/{stock.name}"], log_path=scratch / "rpm.log")
    (root / "tmp" / stock.name).unlink()
    return {}


def _install_agent_with_dnf(root: Path, stock: Path, scratch: Path, on_line: LineSink | None) -> dict[str, object]:
    """The stock agent from the image's own repository, installed by the image's dnf with every
    requirement resolved (no --nodeps): the rpm database first learns what Debian supplies."""
    _write(root / "etc/dnf/plugins/local.conf", DNF_LOCAL_PLUGIN_OFF)
    work = scratch / "provides"
    work.mkdir()
    provides_rpm, provided = system_provides.build_provides_rpm(root, [stock], work)
    shutil.copyfile(provides_rpm, root / "tmp" / provides_rpm.name)
    run(["chroot", root, "rpm", "-i", f"/tmp/{provides_rpm.name}"], log_path=scratch / "rpm.log")
    (root / "tmp" / provides_rpm.name).unlink()
    local_repo.make_in_image(root, [stock], log_path=scratch / "dnf.log")
    run(["chroot", root, "dnf", "-y", "install", nevra_of(stock).nevr], log_path=scratch / "dnf.log",
        on_line=on_line, timeout=600)
    return {"provides_package": provides_rpm.name,
            "provides": {p.spec_line().removeprefix("Provides: "): p.evidence for p in provided},
            "repository": local_repo.REPO_DIR, "repository_file": local_repo.REPO_FILE}


def _marked(on_line: LineSink | None, what: str) -> LineSink | None:
    """Lines of one of two jobs running at once, each marked with its job so both stay readable."""
    if on_line is None:
        return None
    sink = on_line
    return lambda line: sink(f"[{what}] {line}")


def _cached_image(stock: Path, chosen: Variant) -> GuestImage | None:
    final = chosen.home / f"image-{_image_key(stock, chosen)}"
    return GuestImage(final) if (final / "image.json").is_file() else None


def _debootstrap(root: Path, chosen: Variant, scratch: Path, on_line: LineSink | None) -> None:
    mirror = os.environ.get("QGANB_DEBIAN_MIRROR", DEFAULT_MIRROR)
    run(["debootstrap", "--variant=minbase", f"--include={','.join(chosen.packages)}", SUITE, root, mirror],
        log_path=scratch / "debootstrap.log", on_line=on_line,
        fix=f"check that {mirror} is reachable (or set QGANB_DEBIAN_MIRROR)")


def build_image(on_line: LineSink | None = None, variant: str = "default") -> GuestImage:
    """The guest image, built when its inputs changed and reused otherwise."""
    chosen = variant_named(variant)
    for tool, package in (("debootstrap", "debootstrap"), ("mkfs.ext4", "e2fsprogs"), ("ssh-keygen", "openssh-client"),
                          ("chroot", "coreutils"), ("systemctl", "systemd")):
        require_tool(tool, package)
    if os.geteuid() != 0:
        raise TestbedError("building the guest image needs root (debootstrap creates device nodes)",
                           "run `qganb testbed up` as root once; later runs reuse the image")
    if not _any_image(chosen):
        # First contact: no image of this kind at all, so one is built whatever the stock agent turns
        # out to be. Its Debian root starts at once, beside the fixture's build (a fresh clone's
        # `make demo` builds the fixture src.rpm at the same time, and waits for it here).
        with file_lock.held(chosen.home / "image.lock", on_wait=on_line,
                            what=f"another build of the {chosen.name} guest's image"):
            if not _any_image(chosen):
                return _build_image(chosen, None, None, on_line)
    fixture = build_fixture_srpm(*STOCK_FIXTURE).path
    stock = cached_stock_rpm(fixture)
    if stock is not None and (image := _cached_image(stock, chosen)) is not None:
        return image
    # A guest's `up`, the fleet's and a background build may want the same image at once: one builds,
    # the others wait for it and reuse it.
    with file_lock.held(chosen.home / "image.lock", on_wait=on_line,
                        what=f"another build of the {chosen.name} guest's image"):
        stock = cached_stock_rpm(fixture)
        if stock is not None and (image := _cached_image(stock, chosen)) is not None:
            return image
        return _build_image(chosen, fixture, stock, on_line)


def _any_image(chosen: Variant) -> bool:
    return any(chosen.home.glob("image-*/image.json"))


def _build_image(chosen: Variant, fixture: Path | None, stock: Path | None,
                 on_line: LineSink | None) -> GuestImage:
    """`fixture` None: the default fixture, built here beside debootstrap (stock is None then too)."""
    scratch = Path(tempfile.mkdtemp(prefix=".image-", dir=chosen.home))
    try:
        started = time.monotonic()
        root = scratch / "root"
        staging = scratch / "result"
        keys = staging / "keys"
        keys.mkdir(parents=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "qganb-testbed", "-f", keys / "id_ed25519"])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "qganb-guest", "-f", keys / "ssh_host_ed25519_key"])
        if stock is None:
            # The image's Debian root does not depend on the stock agent: debootstrap (mostly downloads
            # and unpacking) runs while the agent compiles, each line of its log marked as its own.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qganb-debootstrap") as pool:
                bootstrapped = pool.submit(_debootstrap, root, chosen, scratch, _marked(on_line, "debootstrap"))
                try:
                    if fixture is None:
                        fixture = build_fixture_srpm(*STOCK_FIXTURE, on_line=_marked(on_line, "fixture")).path
                    stock = stock_rpm(fixture, _marked(on_line, "stock agent build"))
                except BaseException:
                    # The fixture's or the stock build's error is the one to show, once debootstrap stopped.
                    with contextlib.suppress(Exception):
                        bootstrapped.result()
                    raise
                bootstrapped.result()
            if (image := _cached_image(stock, chosen)) is not None:
                return image
        else:
            _debootstrap(root, chosen, scratch, on_line)
        final = chosen.home / f"image-{_image_key(stock, chosen)}"
        _configure_root(root, keys)
        installed = (_install_agent_with_dnf(root, stock, scratch, on_line) if chosen.uses_dnf
                     else _install_agent_with_rpm(root, stock, scratch))
        # The unit is WantedBy the virtio port's device unit: udev starts the agent when the port appears.
        run(["systemctl", f"--root={root}", "enable", "qemu-guest-agent.service", SEED_UNIT], log_path=scratch / "rpm.log")
        kernel = sorted((root / "boot").glob("vmlinuz-*"))[-1]
        initrd = sorted((root / "boot").glob("initrd.img-*"))[-1]
        shutil.copyfile(kernel, staging / "vmlinuz")
        shutil.copyfile(initrd, staging / "initrd.img")
        run(["mkfs.ext4", "-q", "-F", "-L", "qganb-root", "-d", root, staging / "root.ext4", IMAGE_SIZE],
            log_path=scratch / "mkfs.log")
        (staging / "root.ext4").chmod(0o600)  # it holds the guest's private host key
        _write(staging / "image.json", json.dumps({
            "suite": SUITE, "packages": chosen.packages, "stock_rpm": stock.name, "kernel": kernel.name,
            **({"variant": chosen.name} if chosen.name != "default" else {}), **installed,
            "build_seconds": round(time.monotonic() - started, 1)}, indent=2) + "\n")
        os.replace(staging, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return GuestImage(final)


def domain_xml(image: GuestImage, overlay: Path, console: Path, port: int, domain: str = DOMAIN,
               seed: Path | None = None) -> str:
    """The domain; `seed`: a fleet guest's read-only seed disk (vdb), its own host key and hostname."""
    seed_disk = "" if seed is None else f"""
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='{escape(str(seed))}'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>"""
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{escape(domain)}</name>
  <memory unit='MiB'>1024</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(str(image.kernel))}</kernel>
    <initrd>{escape(str(image.initrd))}</initrd>
    <cmdline>root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{escape(str(overlay))}'/>
      <target dev='vda' bus='virtio'/>
    </disk>{seed_disk}
    <serial type='file'><source path='{escape(str(console))}'/><target port='0'/></serial>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=qganbnet,hostfwd=tcp:127.0.0.1:{port}-:22'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=qganbnet,addr=0x10'/>
  </qemu:commandline>
</domain>
"""


def known_hosts_path(variant: str = "default") -> Path:
    return variant_named(variant).home / "known_hosts"


def ssh_argv(image: GuestImage, command: list[str] | None = None, port: int | None = None,
             variant: str = "default", known_hosts: Path | None = None) -> list[str]:
    """OpenSSH with the testbed's key and its pinned known_hosts (the variant's, unless `known_hosts`
    names another); host keys are always verified."""
    known = known_hosts or known_hosts_path(variant)
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={ssh_option_path(known)}", "-o", "ConnectTimeout=10",
            "-o", f"IdentityFile={ssh_option_path(image.client_key)}", "-p", str(port or ssh_port(variant)),
            "root@127.0.0.1"]
    if command:
        argv += ["--", *command]
    return argv


def ssh_answers(argv: list[str]) -> bool:
    """True when `argv` (ssh_argv running `true`) logs in and exits 0."""
    try:
        return subprocess.run(argv, capture_output=True, check=False, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False  # a hung attempt counts as "not yet": the boot deadline decides


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def up(on_line: LineSink | None = None, timeout: float = 300.0, variant: str = "default",
       stock: Path | None = None) -> dict[str, float]:
    """Boot the guest of `variant` (building its image first if needed); return the timings in seconds.

    `stock` (default variant): a src.rpm or RPM of the agent the guest then starts from (see
    stock_rpm), instead of the default fixture's build the image carries."""
    if stock is not None and variant != "default":
        raise TestbedError(f"--stock applies to the default guest, not the {variant} one",
                           f"the {variant} guest takes its agent from its own repository: leave --stock out")
    chosen = variant_named(variant)
    # One boot at a time per guest: `make demo` boots it beside the run's first stages, and the install
    # stage's own `up` then waits for that boot and finds the guest answering.
    with file_lock.held(chosen.home / "up.lock", on_wait=on_line,
                        what=f"another `qganb testbed up` of the {chosen.name} guest"):
        timings = _boot(on_line, timeout, variant)
        if stock is not None:
            began = time.monotonic()
            changed = start_from(stock_rpm(stock, on_line), on_line)
            timings["stock"] = time.monotonic() - began if changed else 0.0
    return timings


def _boot(on_line: LineSink | None, timeout: float, variant: str) -> dict[str, float]:
    require_tool("qemu-img", "qemu-utils")
    chosen = variant_named(variant)
    timings: dict[str, float] = {}
    start = time.monotonic()
    image = build_image(on_line, variant)
    timings["image"] = time.monotonic() - start
    libvirt_host.ensure_daemons()
    port = ssh_port(variant)
    if libvirt_host.domain_state(chosen.domain) == "running" and libvirt_host.agent_ping(chosen.domain):
        timings["boot"] = 0.0
        return timings
    if libvirt_host.domain_state(chosen.domain) is not None:
        down(variant)
    if not port_free(port):
        raise TestbedError(f"127.0.0.1:{port} is already in use", f"set {chosen.port_variable} to a free port")
    state = chosen.run_dir
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir()
    overlay = state / "overlay.qcow2"
    # The disk and what the guest writes over it hold its private host key: owner only (libvirt's
    # dynamic ownership hands them to QEMU's user while the guest runs). Images made before this
    # was so are tightened here.
    image.disk.chmod(0o600)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", image.disk, "-F", "raw", overlay])
    overlay.chmod(0o600)
    xml = state / "domain.xml"
    xml.write_text(domain_xml(image, overlay, state / "console.log", port, chosen.domain))
    (state / "image").write_text(image.directory.name + "\n")  # for current_image: older formats stay cached
    known_hosts_path(variant).write_text(f"[127.0.0.1]:{port} {image.host_public_key}\n")
    boot = time.monotonic()
    libvirt_host.create_domain(xml)
    deadline = boot + timeout
    while not libvirt_host.agent_ping(chosen.domain, timeout=3):
        if time.monotonic() > deadline:
            tail = (state / "console.log").read_text(errors="replace").splitlines()[-10:]
            raise TestbedError(f"the guest's agent did not answer guest-ping within {timeout:g} s; console: "
                               + " | ".join(tail), f"see {state / 'console.log'}")
        time.sleep(1)
    timings["boot"] = time.monotonic() - boot
    while not ssh_answers(ssh_argv(image, ["true"], variant=variant)):
        if time.monotonic() > deadline:
            raise TestbedError("the guest's sshd did not accept the testbed key", f"see {state / 'console.log'}")
        time.sleep(1)
    timings["ssh"] = time.monotonic() - boot
    return timings


def down(variant: str = "default") -> None:
    """Stop the guest of `variant` and remove its overlay; leaves nothing of it running."""
    chosen = variant_named(variant)
    if libvirt_host.domain_state(chosen.domain) is not None:
        libvirt_host.virsh("destroy", chosen.domain, check=False)
        if libvirt_host.domain_state(chosen.domain) is not None:
            libvirt_host.virsh("undefine", chosen.domain, check=False)
    shutil.rmtree(chosen.run_dir, ignore_errors=True)


def current_image(variant: str = "default") -> GuestImage:
    """The image the variant's guest booted from, else the newest: images of another IMAGE_FORMAT (or
    stock) stay in the cache, and a newer one has another client key than the guest accepts."""
    booted = variant_named(variant).run_dir / "image"
    if booted.is_file() and (directory := variant_named(variant).home / booted.read_text().strip()).is_dir():
        return GuestImage(directory)
    images = sorted(variant_named(variant).home.glob("image-*/image.json"), key=lambda p: p.stat().st_mtime)
    if not images:
        flag = "" if variant == "default" else f" --variant {variant}"
        raise TestbedError(f"no {variant} testbed image yet", f"run `qganb testbed up{flag}` first")
    return GuestImage(images[-1].parent)


def ssh_target(image: GuestImage | None = None, variant: str = "default") -> SshTarget:
    """root on the guest through the port forward, with the testbed's key and pinned known_hosts."""
    image = image or current_image(variant)
    return SshTarget("127.0.0.1", "root", ssh_port(variant), image.client_key, known_hosts_path(variant))
