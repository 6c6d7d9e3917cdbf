"""`sitedeploy up`: build, start, check, switch — without the port ever going quiet.

1. Build the images (a failure here touches nothing that runs).
2. The switch (serve/switch.py): a new server in the free socket slot, every built file
   checked on it over HTTP, the front moved to it, the old server drained.
3. Prune the site's older images.

If the build or the check fails, the running preview keeps serving.
"""

from __future__ import annotations

import contextlib

from deployer.check.findings import CheckReport
from deployer.check.served import check_site
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import SitedeployError
from deployer.image.images import build_site
from deployer.progress import Progress
from deployer.serve.front import front_live_reload, serving_now
from deployer.serve.lock import site_lock
from deployer.serve.preview import ensure_port_available, preview_url
from deployer.serve.switch import UpResult, serve_image
from deployer.site import Site


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
    if progress.verbose:
        progress.info(engine.kind.line())
    images = build_site(engine, site, config, progress)
    url = preview_url(host, port)

    def check(where: str) -> CheckReport:
        report = check_site(
            where, images.built, progress, baseurl=images.baseurl, site_url=images.site_url,
            redirects=images.redirects,
        )  # fmt: skip
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
