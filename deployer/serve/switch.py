"""The switch every deploy of the preview makes, without the port ever going quiet.

1. Start a new server container from the new image in the socket slot the running one
   is not in, published only on an ephemeral 127.0.0.1 port, and check it there over
   HTTP (the caller says how: every built file for `up`, the changed ones for a hot edit).
2. Only then point the front (which owns the user's port) at it, and wait until the
   front reaches the new container (front.route).
3. Retire the old server gracefully — nginx stops accepting, closes its idle connections
   and finishes its in-flight requests, for up to DRAIN_SECONDS.

If step 1 or 2 fails, the new container is removed and the old one keeps serving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from docker.models.containers import Container

from deployer.built_site import BuiltSite
from deployer.check.findings import CheckReport, Finding, Kind
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import PreviewFailed
from deployer.image.before import ASSET_SUFFIXES, npm_warning
from deployer.image.images import SiteImages
from deployer.labels import Role
from deployer.progress import Progress
from deployer.serve.front import free_slot, route
from deployer.serve.front_config import FrontTls
from deployer.serve.preview import (
    find_containers,
    logs_tail,
    preview_url,
    published_url,
    remove_container,
    start_server,
)
from deployer.site import Site, page_url

_SHOWN_FAILURES = 15
DRAIN_SECONDS = 30  # the longest an old server may take to finish its requests


@dataclass(frozen=True)
class UpResult:
    images: SiteImages
    health: CheckReport  # as `up` weighs it: site defects are warnings unless strict
    container: str  # the front, which owns the port
    server: str  # the site container the front proxies to
    url: str
    replaced: bool  # False when the running preview already served this image
    switch_seconds: float | None = None  # how long moving the port to the new server took
    notes: tuple[str, ...] = ()  # what changed about the preview itself
    edited_only: bool = False  # watch mode: the edited pages, ahead of the whole site
    hot_edits: int = 0  # watch mode: the edit layers over the full build this image has

    @property
    def built(self) -> BuiltSite:
        return self.images.built

    @property
    def page_url(self) -> str:
        """The site's home page: `url` and the site's base path (`url` is the root)."""
        return page_url(self.url, self.images.baseurl)

    @property
    def warnings(self) -> list[str | Finding]:
        """The build's warnings (text), then the check's (findings). An npm build nothing
        runs is named with the files the pages miss, once the check has found them."""
        build = list(self.images.warnings)
        script = self.images.npm_build
        missing = sorted(
            {
                f.url
                for f in self.health.findings
                if f.kind is Kind.BROKEN_LINK and urlsplit(f.url).path.endswith(ASSET_SUFFIXES)
            }
        )
        if script and missing:
            generic = npm_warning(script)
            build = [npm_warning(script, missing) if w == generic else w for w in build]
        return [*build, *self.notes, *self.health.warnings]


def _health_error(url: str, health: CheckReport, strict: bool) -> PreviewFailed:
    errors = health.errors
    shown = "\n".join(f"  {finding}" for finding in errors[:_SHOWN_FAILURES])
    more = len(errors) - _SHOWN_FAILURES
    extra = f"\n  … and {more} more" if more > 0 else ""
    why = (
        "Fix the site (or run without --strict to treat its own defects as warnings)."
        if strict
        else "This is a fault in the deployment, not in the site: please report it with "
        "the output of `sitedeploy up -v`."
    )
    return PreviewFailed(
        f"The new container at {url} failed its check ({len(errors)} errors):\n"
        f"{shown}{extra}\nWhat was serving (if anything) keeps serving. {why}"
    )


@dataclass(frozen=True)
class Switched:
    """What a switch did: the front, the server now answering, the check it passed."""

    front: str
    server: str
    url: str  # where the front listens
    health: CheckReport
    switch_seconds: float | None  # None: the front was created or moved (not in place)
    notes: tuple[str, ...] = ()


def switch_to(
    engine: Engine,
    site: Site,
    tag: str,
    content_hash: str,
    check: Callable[[str], CheckReport],
    config: SiteConfig,
    progress: Progress,
    *,
    front_image: str,
    serving: Container | None,
    strict: bool,
    live_reload: bool,
    tls: FrontTls | None = None,
    keep_front: bool = False,
) -> Switched:
    """Start a server of the image `tag` in the free socket slot, `check` it on its own
    port, move the front (of `front_image`) to it, and retire the server that was serving
    (it drains). A failure removes the new server; the front and the old server stay.
    `tls`: a live front's HTTPS; `keep_front`: leave a running front's configuration
    as it is (a rollback)."""
    host, port = config.host, config.port
    url = preview_url(host, port)
    # Servers the front does not answer from (a run that was stopped half-way) go first:
    # the new server takes the socket slot the serving one is not in.
    for stale in find_containers(engine, site, Role.SERVER):
        if serving is None or stale.id != serving.id:
            remove_container(engine, stale, timeout=1)
    with progress.step("Starting a container from the new image"):
        server = start_server(engine, site, tag, content_hash, free_slot(serving))
    try:
        server_url = published_url(engine, server)
        with progress.step(f"Checking the new container ({server_url})"):
            health = check(server_url)
        if not health.healthy:
            raise _health_error(server_url, health, strict)
        health = health.rebased(server_url, url)  # findings named on the user's URL
        with progress.step(f"Moving {url} to the new container"):
            started = time.monotonic()
            front, in_place, notes = route(
                engine, site, server, previous=serving, runtime_image=front_image,
                host=host, port=port, live_reload=live_reload, tls=tls, keep_front=keep_front,
            )  # fmt: skip
            switched = time.monotonic() - started if in_place else None
    except BaseException as error:
        logs = logs_tail(engine, server)
        remove_container(engine, server, timeout=1)
        if isinstance(error, PreviewFailed) and logs:
            raise PreviewFailed(
                f"{error.message}\nThe new container's nginx said:\n{logs}"
            ) from error
        raise

    retired = [old for old in find_containers(engine, site, Role.SERVER) if old.id != server.id]
    if retired:
        with progress.step("Retiring the previous container (it finishes its requests first)"):
            for old in retired:
                remove_container(engine, old, timeout=DRAIN_SECONDS)
    return Switched(str(front.name), str(server.name), url, health, switched, tuple(notes))


def serve_image(
    engine: Engine,
    site: Site,
    images: SiteImages,
    check: Callable[[str], CheckReport],
    config: SiteConfig,
    progress: Progress,
    *,
    serving: Container | None,
    strict: bool,
    live_reload: bool,
) -> UpResult:
    """`switch_to` the site image of `images` (the front runs the shared nginx runtime)."""
    done = switch_to(
        engine, site, images.image.tag, images.content_hash, check, config, progress,
        front_image=images.runtime.tag, serving=serving, strict=strict, live_reload=live_reload,
    )  # fmt: skip
    return UpResult(
        images, done.health, done.front, done.server, done.url, True, done.switch_seconds,
        done.notes,
    )  # fmt: skip
