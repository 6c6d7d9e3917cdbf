"""`sitedeploy up`: build, start, check, switch — without the port ever going quiet.

1. Build the images (a failure here touches nothing that runs).
2. Start a new server container from the new image in the socket slot the running one
   is not in, published only on an ephemeral 127.0.0.1 port, and check every built file
   on it over HTTP.
3. Only then point the front (which owns the user's port) at it, and wait until the
   front reaches the new container (front.route).
4. Retire the old server gracefully — nginx stops accepting, closes its idle connections
   and finishes its in-flight requests, for up to DRAIN_SECONDS — and prune the site's
   older images.

If step 2 or 3 fails, the new container is removed and the old one keeps serving.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from docker.models.containers import Container

from deployer.built_site import BuiltSite
from deployer.check.findings import CheckReport, Finding, Kind
from deployer.check.served import check_site
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import PreviewFailed, SitedeployError
from deployer.image.before import ASSET_SUFFIXES, npm_warning
from deployer.image.images import SiteImages, build_site
from deployer.labels import Role
from deployer.progress import Progress
from deployer.serve.front import free_slot, front_live_reload, route, serving_now
from deployer.serve.lock import site_lock
from deployer.serve.preview import (
    ensure_port_available,
    find_containers,
    logs_tail,
    preview_url,
    published_url,
    remove_container,
    start_server,
)
from deployer.site import Site

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
        f"{shown}{extra}\nThe running preview (if any) was left as it was. {why}"
    )


def _prune_old_images(engine: Engine, site: Site, keep: set[str]) -> None:
    """Remove the site's earlier images that no container uses any more."""
    for repository in site.repositories:
        with engine.errors(f"Listing the images of {repository}"):
            images = engine.client.images.list(name=repository)
        for image in images:
            if image.id is None or image.id in keep:
                continue
            # Still used by a container, or removed already: it stays, or is gone.
            with contextlib.suppress(SitedeployError), engine.errors(f"Removing {image.id}"):
                engine.client.images.remove(image.id, noprune=False)


def up(
    engine: Engine,
    site: Site,
    config: SiteConfig,
    progress: Progress,
    *,
    strict: bool = False,
    live_reload: bool = False,
) -> UpResult:
    """Build the site and serve it on host:port, replacing the running preview safely.

    With `strict`, the site's own defects (dead links, bad fragments) fail it too. With
    `live_reload` (watch mode) the front has pages reload when a new version is served.
    """
    with site_lock(site):
        return _up(engine, site, config, progress, strict, live_reload)


def _up(
    engine: Engine,
    site: Site,
    config: SiteConfig,
    progress: Progress,
    strict: bool,
    live_reload: bool,
) -> UpResult:
    host, port = config.host, config.port
    ensure_port_available(engine, site, host, port)
    images = build_site(engine, site, config, progress)
    url = preview_url(host, port)

    def check(where: str) -> CheckReport:
        report = check_site(
            where, images.built, progress, baseurl=images.baseurl, site_url=images.site_url
        )
        return report.for_up(strict=strict)

    serving = serving_now(engine, site, host, port)
    if (
        serving is not None
        and serving.attrs.get("Image") == images.image.id
        and front_live_reload(engine, site) == live_reload
    ):
        with progress.step(f"Checking the running preview at {url}"):
            health = check(url)
        if health.healthy:
            return UpResult(images, health, site.container_name, str(serving.name), url, False)
        progress.warning(f"The running preview at {url} is not healthy; replacing its container.")
    result = serve_image(
        engine, site, images, check, config, progress,
        serving=serving, strict=strict, live_reload=live_reload,
    )  # fmt: skip
    _prune_old_images(engine, site, keep={images.image.id, images.builder.id})
    return result


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
    """Start a server of `images.image` in the free socket slot, `check` it on its own
    port, move the front to it, and retire the server that was serving (it drains)."""
    host, port = config.host, config.port
    url = preview_url(host, port)
    # Servers the front does not answer from (a run that was stopped half-way) go first:
    # the new server takes the socket slot the serving one is not in.
    for stale in find_containers(engine, site, Role.SERVER):
        if serving is None or stale.id != serving.id:
            remove_container(engine, stale, timeout=1)
    with progress.step("Starting a container from the new image"):
        server = start_server(
            engine, site, images.image.tag, images.content_hash, free_slot(serving)
        )
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
                engine, site, server, previous=serving, runtime_image=images.runtime.tag,
                host=host, port=port, live_reload=live_reload,
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

    with progress.step("Retiring the previous container (it finishes its requests first)"):
        for old in find_containers(engine, site, Role.SERVER):
            if old.id != server.id:
                remove_container(engine, old, timeout=DRAIN_SECONDS)
    return UpResult(
        images, health, str(front.name), str(server.name), url, True, switched, tuple(notes)
    )
