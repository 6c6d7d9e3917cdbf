"""Make a Debian base image from Debian packages, the way the official images are made.

A minimal root filesystem (mmdebstrap, or debootstrap where that is all there is) is
written as a tarball and imported: FROM scratch plus a rootfs, like `debian:*-slim`.
The result is tagged `sitedeploy/debian:<suite>` — never under an official name — and
labelled with the suite, mirror and the tarball's sha256 so its origin can be traced.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from deployer.digests import file_sha256
from deployer.engine import Engine
from deployer.errors import BaseImageError
from deployer.labels import BOOTSTRAP_REPOSITORY, Label, bootstrap_tag
from deployer.progress import Progress
from deployer.waiting import poll

# What the official images do to a fresh rootfs (debuerreotype's "slimify" and apt
# settings): no docs, man pages or translations; apt keeps no package caches, so an
# `apt-get install` layer does not carry ~78 MB of /var/cache/apt/*.bin; no services
# start inside builds.
_DPKG_EXCLUDES = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/lintian/*",
)
_CUSTOMIZE = r"""set -eu
root="$1"
archives=/var/cache/apt/archives
clean="rm -f $archives/*.deb $archives/partial/*.deb /var/cache/apt/*.bin || true"
conf="$root/etc/apt/apt.conf.d"
cat > "$conf/docker-clean" <<EOF
DPkg::Post-Invoke { "$clean"; };
APT::Update::Post-Invoke { "$clean"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' > "$conf/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' > "$conf/docker-gzip-indexes"
echo 'APT::AutoRemove::SuggestsImportant "false";' > "$conf/docker-autoremove-suggests"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/$archives/*.deb
rm -rf "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/*
: > "$root/etc/machine-id"
"""


def sources(suite: str, mirror: str) -> list[str]:
    """The apt source lines for `suite`: main, updates and security where they exist."""
    lines = [f"deb {mirror} {suite} main"]
    if suite not in {"sid", "unstable", "experimental"}:
        lines.append(f"deb {mirror} {suite}-updates main")
        if mirror.rstrip("/").endswith("/debian"):
            lines.append(f"deb {mirror.rstrip('/')}-security {suite}-security main")
    return lines


def _tool() -> str:
    for tool in ("mmdebstrap", "debootstrap"):
        if shutil.which(tool):
            return tool
    raise BaseImageError(
        "Neither mmdebstrap nor debootstrap is installed, so no Debian base image can be "
        "made here, and none could be pulled. Install one (`sudo apt-get install mmdebstrap`) "
        "and run again, or make a Debian image available to the daemon."
    )


# Interrupted: Ctrl-C to the tool's whole process group (what a terminal sends), then TERM,
# then KILL, each with this much time (seconds) for the group to be gone.
_STOP_SIGNALS = ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0))


def _group_gone(process: subprocess.Popen[str], seconds: float) -> bool:
    """True once no process of `process`'s group is left (within `seconds`)."""

    def gone() -> bool:
        process.poll()  # reap the leader, so that only live members keep the group
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    return poll(seconds, gone, every=0.05) is not None


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop the tool and every process it forked, and wait until none is left.

    Waiting for the tool alone is not enough: mmdebstrap's workers unmount and remove the
    half-made root filesystem after their parent exits, and must be done before we are.
    """
    for signum, grace in _STOP_SIGNALS:
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            break
        if _group_gone(process, grace):
            break
    process.wait()


def _unmount_below(folder: Path) -> None:
    """Unmount what a stopped tool left mounted below `folder`, deepest first: the chroot's
    /proc, /sys, /dev/pts of an interrupted mmdebstrap or debootstrap. Only then may the
    folder be removed (and only its own files go)."""
    prefix = f"{str(folder).rstrip('/')}/"
    points = [
        line.split()[1].replace("\\040", " ")
        for line in Path("/proc/mounts").read_text().splitlines()
        if len(line.split()) > 1
    ]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def _run(command: list[str], progress: Progress, workdir: Path) -> None:
    """Run a bootstrap tool in `workdir` (its temporary files too: TMPDIR); Ctrl-C stops
    all of it and unmounts what it left mounted there."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env={**os.environ, "TMPDIR": str(workdir)},
        start_new_session=True,  # its own process group: we stop all of it, and wait
    )
    tail: list[str] = []
    try:
        for line in process.stdout or ():
            progress.detail(line)
            tail = [*tail[-19:], line.rstrip()]
        code = process.wait()
    except BaseException:
        _stop(process)
        _unmount_below(workdir)
        raise
    if code != 0:
        raise BaseImageError(
            f"{command[0]} failed (exit {code}) while making a Debian base image:\n"
            + "\n".join(tail)
            + "\nCheck that the Debian mirror is reachable ([build] debian_mirror in "
            "sitedeploy.toml) and that you run as root or may use user namespaces."
        )


def _make_rootfs_tar(tool: str, suite: str, mirror: str, workdir: Path, progress: Progress) -> Path:
    tarball = workdir / "rootfs.tar"
    customize = workdir / "customize.sh"
    customize.write_text(_CUSTOMIZE)
    if tool == "mmdebstrap":
        command = [
            "mmdebstrap",
            "--variant=minbase",
            *(f"--dpkgopt={option}" for option in _DPKG_EXCLUDES),
            f'--customize-hook=sh {customize} "$1"',
            suite,
            str(tarball),
            *sources(suite, mirror),
        ]
        _run(command, progress, workdir)
        return tarball
    rootfs = workdir / "rootfs"
    rootfs.mkdir()
    _run(["debootstrap", "--variant=minbase", suite, str(rootfs), mirror], progress, workdir)
    with (rootfs / "etc/apt/sources.list").open("w") as handle:
        handle.write("\n".join(sources(suite, mirror)) + "\n")
    _run(["sh", str(customize), str(rootfs)], progress, workdir)
    _run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."], progress, workdir)
    return tarball


def bootstrap_debian(engine: Engine, suite: str, mirror: str, progress: Progress) -> str:
    """Build `sitedeploy/debian:<suite>` from packages and import it; return its tag.

    Everything is made in a temporary folder that is removed whatever happens; the tag is
    only set by the import, after the rootfs is complete.
    """
    tool = _tool()
    tag = bootstrap_tag(suite)
    with tempfile.TemporaryDirectory(prefix="sitedeploy-bootstrap-", dir=_temp_root()) as tmp:
        tarball = _make_rootfs_tar(tool, suite, mirror, Path(tmp), progress)
        checksum = file_sha256(tarball)
        progress.detail(f"importing {tarball.stat().st_size // 2**20} MiB root filesystem")
        changes = [
            'CMD ["bash"]',
            f"LABEL {Label.BOOTSTRAP_SUITE}={suite} {Label.BOOTSTRAP_MIRROR}={mirror} "
            f"{Label.BOOTSTRAP_ROOTFS}={checksum}",
        ]
        with engine.errors(f"Importing the {suite} root filesystem as {tag}"):
            engine.api.import_image_from_file(
                str(tarball), repository=BOOTSTRAP_REPOSITORY, tag=suite, changes=changes
            )
    return tag


def _temp_root() -> str | None:
    # /var/tmp is on disk; /tmp may be a small tmpfs and a rootfs tarball is ~120 MB.
    return "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
