"""Fixtures shared by the integration and acceptance tests: a real engine, real sites.

Everything the tests create is named `sitedeploy/sdtest-*` (images) or labelled with a
site path under this session's temporary folder (containers), and removed at the end.
Base images and the nginx runtime image are kept: they are the cache every run shares.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import shutil
import socket
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import docker.errors
import pytest
import requests
from docker.models.containers import Container

from deployer.engine import Engine, connect
from deployer.labels import Label
from deployer.resources import site_template_dir
from deployer.site import Site
from deployer.waiting import wait_until

TEST_PREFIX = "sdtest"

SiteFactory = Callable[..., Path]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that restart the Docker daemon run after all the others (which share it)."""
    items.sort(key=lambda item: item.get_closest_marker("restarts_engine") is not None)


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


def planted(
    engine: Engine, site: Site, image: str, folder: str, files: dict[str, bytes]
) -> tuple[Container, str]:
    """`image` in a plain, writable container (root, not hardened) with `files` written into
    `folder`: for tests that need content on disk that the build never produced."""
    port = free_port()
    container: Container = engine.client.containers.run(
        image, detach=True, labels=site.labels, ports={"8080/tcp": ("127.0.0.1", port)}, user="0:0"
    )
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    container.put_archive(folder, payload.getvalue())
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            requests.get(url, timeout=2)
        except requests.ConnectionError:
            return False
        return True

    wait_until(20, answers, f"the planted server at {url} to answer", every=0.2)
    return container, url


def _ours(labels: dict[str, str] | None, sites_root: Path) -> bool:
    return (labels or {}).get(Label.SITE_PATH, "").startswith(str(sites_root))


def _clean(engine: Engine, sites_root: Path) -> None:
    for container in engine.client.containers.list(all=True, filters={"label": Label.SITE_PATH}):
        if _ours(container.labels, sites_root):
            container.remove(force=True)
    for network in engine.client.networks.list(filters={"label": Label.SITE_PATH}):
        if _ours(network.attrs.get("Labels"), sites_root):
            network.remove()
    for volume in engine.client.volumes.list(filters={"label": Label.SITE_PATH}):
        if _ours(volume.attrs.get("Labels"), sites_root):
            volume.remove(force=True)
    for image in engine.client.images.list():
        # Ours by label (images pulled back from a test registry too); by name only when
        # unlabelled, so that another test session's images are left alone.
        labels = image.labels or {}
        named = any(tag.startswith(f"sitedeploy/{TEST_PREFIX}-") for tag in image.tags)
        if (named and Label.SITE_PATH not in labels) or _ours(labels, sites_root):
            with contextlib.suppress(docker.errors.APIError):
                engine.client.images.remove(str(image.id), force=True)


@pytest.fixture(scope="session")
def engine(sites_root: Path) -> Iterator[Engine]:
    """The real Docker engine (scripts/test starts it); everything made here is removed."""
    connected = connect()
    yield connected
    _clean(connected, sites_root)
