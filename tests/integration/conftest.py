from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deployer.commands.up import up
from deployer.config import SiteConfig, load_config
from deployer.engine import Engine
from deployer.progress import Progress
from deployer.serve.preview import stop_preview
from deployer.serve.switch import UpResult
from deployer.site import Site, open_site
from tests.conftest import SiteFactory, free_port


def deploy(
    docker_engine: Engine, folder: Path, **overrides: object
) -> tuple[Site, SiteConfig, UpResult]:
    """Run `up` on `folder` on a free port; return the site, its config and the result."""
    config = load_config(folder, {"port": free_port(), **overrides})
    site = open_site(folder)
    return site, config, up(docker_engine, site, config, Progress(quiet=True))


@contextmanager
def served(docker_engine: Engine, folder: Path, **overrides: object) -> Iterator[UpResult]:
    """`up` on `folder` for the length of a `with` block; its preview is stopped after."""
    site, _config, result = deploy(docker_engine, folder, **overrides)
    try:
        yield result
    finally:
        stop_preview(docker_engine, site)


@pytest.fixture(scope="session")
def starter(engine: Engine, make_site: SiteFactory) -> Iterator[tuple[Site, SiteConfig, UpResult]]:
    """The starter site, deployed once for every test that only reads from it."""
    site, config, result = deploy(engine, make_site("starter"))
    yield site, config, result
    stop_preview(engine, site)
