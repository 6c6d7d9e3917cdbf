"""The engine matrix: Docker Engine 26 and 28 (Debian trixie's and sid's docker.io), each
with the classic image store and the containerd image store, started beside the machine's
own daemon (20.10, which every other test uses) — see extra.py."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

from deployer.config import load_config
from deployer.engine import Engine
from deployer.image.bases import resolve_base
from deployer.progress import Progress
from deployer.resources import site_template_dir
from tests.engines.extra import ExtraEngine, joined
from tests.running import cli


def start(extra: ExtraEngine, main: Engine) -> ExtraEngine:
    """`extra` running, with the machine's bootstrapped Debian base loaded into it (what a
    user's engine would pull: Docker Hub is not reachable here)."""
    config = load_config(site_template_dir())
    base = resolve_base(main, config.nginx_image, config.debian_mirror, Progress(quiet=True))
    try:
        extra.start()
        extra.load([base.reference])
    except BaseException:
        extra.stop()
        raise
    return extra


class On:
    """The CLI run against an extra engine, inside its network namespace."""

    def __init__(self, extra: ExtraEngine) -> None:
        self.extra = extra

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.extra.host}

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        with joined(self.extra):
            return cli(*args, env=self.env, timeout=timeout)


@contextlib.contextmanager
def started(extra: ExtraEngine, main: Engine) -> Iterator[On]:
    start(extra, main)
    try:
        yield On(extra)
    finally:
        extra.stop()
