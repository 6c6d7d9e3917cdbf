"""Fixtures shared by the integration and acceptance tests: a real engine, real sites.

Everything the tests create is named `sitedeploy/sdtest-*` (images) or labelled with a
site path under this session's temporary folder (containers), and removed at the end.
Base images and the nginx runtime image are kept: they are the cache every run shares.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import docker.errors
import pytest

from deployer.engine import Engine, connect
from deployer.resources import site_template_dir
from deployer.site import SITE_PATH_LABEL

TEST_PREFIX = "sdtest"

SiteFactory = Callable[..., Path]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def sites_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sites")


@pytest.fixture(scope="session")
def make_site(sites_root: Path) -> SiteFactory:
    """Copy the starter site to a new folder, then write `files` (None deletes a file)."""

    def make(name: str, files: dict[str, str | bytes | None] | None = None) -> Path:
        folder = sites_root / f"{TEST_PREFIX}-{name}-{secrets.token_hex(2)}"
        shutil.copytree(site_template_dir(), folder)
        for relative, content in (files or {}).items():
            target = folder / relative
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        return folder

    return make


def _ours(labels: dict[str, str] | None, sites_root: Path) -> bool:
    return (labels or {}).get(SITE_PATH_LABEL, "").startswith(str(sites_root))


def _clean(engine: Engine, sites_root: Path) -> None:
    for container in engine.client.containers.list(all=True, filters={"label": SITE_PATH_LABEL}):
        if _ours(container.labels, sites_root):
            container.remove(force=True)
    for network in engine.client.networks.list(filters={"label": SITE_PATH_LABEL}):
        if _ours(network.attrs.get("Labels"), sites_root):
            network.remove()
    for volume in engine.client.volumes.list(filters={"label": SITE_PATH_LABEL}):
        if _ours(volume.attrs.get("Labels"), sites_root):
            volume.remove(force=True)
    for image in engine.client.images.list():
        named = any(tag.startswith(f"sitedeploy/{TEST_PREFIX}-") for tag in image.tags)
        if named or _ours(image.labels, sites_root):  # labels: also images pulled back
            with contextlib.suppress(docker.errors.APIError):
                engine.client.images.remove(str(image.id), force=True)


@pytest.fixture(scope="session")
def engine(sites_root: Path) -> Iterator[Engine]:
    """The real Docker engine (scripts/test starts it); everything made here is removed."""
    connected = connect()
    yield connected
    _clean(connected, sites_root)
