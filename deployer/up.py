"""`sitedeploy up`: build, run, health-check, report — and lose nothing on failure.

The old preview keeps running while the new images build; a failed build never touches
it. Only once the build succeeded is the old container set aside (stopped, renamed) and
the new one started on the port; if the new one does not start or fails its health check,
it is removed and the old one is started again.
"""

from __future__ import annotations

from dataclasses import dataclass

import docker.errors
from docker.models.containers import Container

from deployer.build import SiteImages, build_site
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import PreviewFailed
from deployer.health import HealthReport, check_deployment, wait_until_serving
from deployer.preview import (
    ensure_port_available,
    find_previews,
    preview_url,
    remove_container,
    start_preview,
)
from deployer.progress import Progress
from deployer.site import Site
from deployer.sitefiles import BuiltSite, extract_built_site

_SHOWN_FAILURES = 15


@dataclass(frozen=True)
class UpResult:
    images: SiteImages
    built: BuiltSite
    health: HealthReport
    container: str
    url: str
    restarted: bool  # False when the running preview already served this image


def _serving_same(container: Container, image_id: str, host: str, port: int) -> bool:
    bindings = container.attrs.get("HostConfig", {}).get("PortBindings", {}).get("8080/tcp") or []
    bound = [(b.get("HostIp") or "0.0.0.0", int(b.get("HostPort") or 0)) for b in bindings]
    same_image = container.attrs.get("Image") == image_id
    return container.status == "running" and same_image and bound == [(host, port)]


def _set_aside(containers: list[Container]) -> list[tuple[Container, str, bool]]:
    """Stop and rename the old previews so the port and the name are free; remember them."""
    aside = []
    for container in containers:
        was_running = container.status == "running"
        name = str(container.name)
        container.stop(timeout=5)
        container.rename(f"{name}-previous")
        aside.append((container, name, was_running))
    return aside


def _restore(aside: list[tuple[Container, str, bool]]) -> None:
    for container, name, was_running in aside:
        container.rename(name)
        if was_running:
            container.start()


def _logs_tail(container: Container, lines: int = 20) -> str:
    try:
        return str(container.logs(tail=lines).decode("utf-8", "replace")).rstrip()
    except docker.errors.APIError:
        return ""


def _health_error(url: str, health: HealthReport, logs: str) -> PreviewFailed:
    shown = "\n".join(f"  {finding}" for finding in health.failures[:_SHOWN_FAILURES])
    more = len(health.failures) - _SHOWN_FAILURES
    extra = f"\n  … and {more} more" if more > 0 else ""
    log_text = f"\nnginx said:\n{logs}" if logs else ""
    return PreviewFailed(
        f"The new preview at {url} does not serve the site it was built from "
        f"({len(health.failures)} failures):\n{shown}{extra}{log_text}\n"
        "The previous preview (if any) was put back. This is a fault in the deployment, "
        "not in the site: please report it with the output of `sitedeploy up -v`."
    )


def _prune_old_images(engine: Engine, site: Site, keep: set[str]) -> None:
    """Remove the site's earlier images that no container uses any more."""
    for repository in (site.repository, site.builder_repository):
        for image in engine.client.images.list(name=repository):
            if image.id is None or image.id in keep:
                continue
            try:
                engine.client.images.remove(image.id, noprune=False)
            except docker.errors.APIError:
                continue  # still used by a container, or removed already


def up(engine: Engine, site: Site, config: SiteConfig, progress: Progress) -> UpResult:
    """Build the site, (re)start its preview on host:port, and check it over HTTP."""
    ensure_port_available(engine, site, config.host, config.port)
    images = build_site(engine, site, config, progress)
    built = extract_built_site(engine, images.builder.tag, site, images.content_hash)
    url = preview_url(config.host, config.port)

    previews = find_previews(engine, site)
    current = next(
        (c for c in previews if _serving_same(c, images.image.id, config.host, config.port)), None
    )
    if current is not None:
        with progress.step(f"Checking the running preview at {url}"):
            wait_until_serving(url)
            health = check_deployment(url, built, images.baseurl)
        if not health.healthy:
            raise _health_error(url, health, _logs_tail(current))
        return UpResult(images, built, health, str(current.name), url, restarted=False)

    with progress.step(f"Starting the preview on {url}"), engine.errors("Replacing the preview"):
        aside = _set_aside(previews)
        try:
            container = start_preview(
                engine, site, images.image.tag, images.content_hash, config.host, config.port,
                name=site.container_name,
            )  # fmt: skip
        except BaseException:
            _restore(aside)
            raise
    try:
        with progress.step(f"Checking every file over HTTP at {url}"):
            wait_until_serving(url)
            health = check_deployment(url, built, images.baseurl)
        if not health.healthy:
            raise _health_error(url, health, _logs_tail(container))
    except BaseException as error:
        logs = _logs_tail(container)
        remove_container(container, timeout=1)
        _restore(aside)
        if isinstance(error, PreviewFailed) and logs and "nginx said" not in error.message:
            raise PreviewFailed(f"{error.message}\nnginx said:\n{logs}") from error
        raise
    for old, _name, _running in aside:
        remove_container(old)
    _prune_old_images(engine, site, keep={images.image.id, images.builder.id})
    return UpResult(images, built, health, str(container.name), url, restarted=True)
