"""`sitedeploy deploy`: the site live on its target, built here, checked there, switched
without dropping a request.

* `host` (the default): a server with Docker — this machine, or one reached over SSH
  (`[deploy] server = "ssh://user@host"`, `--server`, DOCKER_HOST or a docker context). The
  image goes there by the registry when `[publish]` names one (pushed, pulled by digest),
  else over the same SSH connection (only the layers the server lacks). There the same
  front and switch as the preview serve it on `[deploy] bind:port` (0.0.0.0:80 unless
  said), and the version it replaces is kept for `rollback` (ship/host.py).
* `swarm`: publish, then the swarm's own rolling update (ship/swarm.py).

With [deploy] verify_key, the published digest must carry a signature that key made
(commands/verify.py) before a server pulls it or the swarm rolls: nothing changes else.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from deployer.check.findings import CheckReport
from deployer.check.served import check_site
from deployer.commands.https import (
    after_switch,
    before_switch,
    plan_https,
    swarm_acme,
    swarm_tls,
)
from deployer.commands.publish import publish
from deployer.commands.verify import verify_key, verify_published
from deployer.config import DeployTarget, SiteConfig, site_file
from deployer.engine import Engine, connect, engine_here
from deployer.errors import ConfigError, RolledBack, SitedeployError
from deployer.image.images import SiteImages, build_site
from deployer.progress import Progress
from deployer.serve.front import current_front, front_matches, serving_now
from deployer.serve.lock import site_lock
from deployer.serve.switch import Switched, switch_to
from deployer.ship.host import HostStatus, host_status, keep_for_rollback, live_repository
from deployer.ship.publish import PublishSettings
from deployer.ship.swarm import (
    SwarmResult,
    SwarmStatus,
    deploy_swarm,
    require_swarm,
    swarm_status,
)
from deployer.ship.transfer import Sent, check_streamable, send_image
from deployer.site import Site

HOST_PORT = 80
SWARM_PORT = 8080


@dataclass(frozen=True)
class DeploySettings:
    publish: PublishSettings
    strict: bool = False  # the site's own defects (dead links) fail the check too


@dataclass(frozen=True)
class DeployResult:
    """A swarm rollout."""

    image: str  # REGISTRY/REPOSITORY@sha256:…
    rollout: SwarmResult
    status: SwarmStatus

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.rollout.rolled_back,
            "seconds": round(self.rollout.seconds, 2),
            "rolled_back": self.rollout.rolled_back,
            **self.status.as_dict(),
        }


@dataclass(frozen=True)
class HostResult:
    """A deploy to a server: how the image got there, the switch, what runs now."""

    images: SiteImages
    transfer: Transfer
    switched: Switched | None  # None: the server already served this version
    status: HostStatus
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        switched = self.switched
        return {
            "ok": True,
            "transfer": self.transfer.as_dict(),
            "replaced": switched is not None,
            "switch_seconds": (
                round(switched.switch_seconds, 3)
                if switched and switched.switch_seconds is not None
                else None
            ),
            "seconds": round(self.seconds, 2),
            **self.status.as_dict(),
        }


@dataclass(frozen=True)
class Transfer:
    """How the image got to the server: built there (this machine), pulled from the
    registry by digest, or streamed over SSH (only the layers the server lacked)."""

    way: str  # "local", "registry" or "stream"
    reference: str  # the image's tag, or REGISTRY/REPO@sha256:… when pulled
    sent: Sent | None = None  # the stream's layers and bytes

    def __str__(self) -> str:
        if self.way == "registry":
            return f"pulled {self.reference}"
        if self.sent is None:
            return "built on this engine"
        total = self.sent.layers_sent + self.sent.layers_there
        return (
            f"sent {self.sent.layers_sent} of {total} layers "
            f"({self.sent.bytes_sent // 1024} kB) over SSH"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "way": self.way,
            "reference": self.reference,
            "layers_sent": self.sent.layers_sent if self.sent else None,
            "bytes_sent": self.sent.bytes_sent if self.sent else None,
        }


@contextlib.contextmanager
def server_engine(local: Engine, config: SiteConfig) -> Iterator[Engine]:
    """The server `[deploy] server` (or --server) names, connected for the block; this
    machine's engine (`local`) without."""
    server = connect(config.deploy_server) if config.deploy_server else local
    try:
        yield server
    finally:
        if server is not local:
            server.close()


def deploy(
    engine: Engine, site: Site, config: SiteConfig, progress: Progress, settings: DeploySettings
) -> DeployResult | HostResult:
    """Make the site live on `config.deploy_to` (building here with `engine`)."""
    if settings.publish.dry_run:
        raise ConfigError("deploy has no dry run; `publish --dry-run` shows what would be pushed.")
    key_file = site_file(site.path, config.verify_key)
    if key_file is not None:
        verify_key(key_file)  # a missing or unreadable key is said before anything is built
    if config.deploy_to is DeployTarget.SWARM:
        return _deploy_swarm(engine, site, config, progress, settings)
    with server_engine(engine, config) as server:
        builder = engine
        if server is engine and engine.over_ssh:  # DOCKER_HOST=ssh://…: the server
            builder = engine_here() or engine
            progress.info(
                f"Building on this machine's engine, deploying to {server.host}."
                if builder is not engine
                else f"No Docker engine answers on this machine: building on {server.host}."
            )
        try:
            return _deploy_host(builder, server, site, config, progress, settings)
        finally:
            if builder is not engine:
                builder.close()


def _deploy_swarm(
    engine: Engine, site: Site, config: SiteConfig, progress: Progress, settings: DeploySettings
) -> DeployResult:
    """Publish the site's image and have the swarm serve it. Raises RolledBack (with the
    state after the rollback) when the new version failed its health check."""
    registry, repository = settings.publish.target(config, "deploy --to swarm")
    tls = swarm_tls(config.tls)  # a bad certificate is said before anything is published
    require_swarm(engine)  # and an engine that cannot run it
    published = publish(engine, site, config, progress, settings.publish)
    image = f"{registry}/{repository}@{published.digest}"
    key_file = site_file(site.path, config.verify_key)
    if key_file is not None and published.digest:  # before anything rolls
        credentials = settings.publish.credentials
        verify_published(registry, repository, published.digest, key_file, credentials, progress)
    acme = None
    if tls is not None and tls.given is None:
        acme = swarm_acme(engine, site, config, settings.publish, progress)
    port = config.deploy_port or SWARM_PORT
    rollout = deploy_swarm(
        engine, site, image, replicas=config.deploy_replicas, port=port, progress=progress,
        tls=tls, acme=acme,
    )  # fmt: skip
    result = DeployResult(image, rollout, swarm_status(engine, site))
    if rollout.rolled_back:
        raise RolledBack(
            f"{image} did not pass its health check, so the swarm rolled back to "
            f"{result.status.image}; the deploy keeps serving the previous version.",
            result.as_dict(),
        )
    return result


def _bring(
    local: Engine,
    server: Engine,
    site: Site,
    images: SiteImages,
    config: SiteConfig,
    progress: Progress,
    settings: DeploySettings,
) -> Transfer:
    """Make the site image exist on the server; say how it got there."""
    tag = images.image.tag
    key_file = site_file(site.path, config.verify_key)
    if server is local and key_file is None:
        return Transfer("local", tag)
    named = settings.publish.named(config)
    if key_file is not None and named is None:
        raise ConfigError(
            "[deploy] verify_key (--verify-key) checks the signature of the published image, "
            "and the server then runs that very digest: set [publish] registry and repository "
            "(or --registry/--repository). Nothing was changed on the server."
        )
    if named is not None:
        registry, repository = named
        published = publish(local, site, config, progress, settings.publish)
        pinned = f"{registry}/{repository}@{published.digest}"
        if key_file is not None and published.digest:  # before the server pulls it
            credentials = settings.publish.credentials
            verify_published(
                registry, repository, published.digest, key_file, credentials, progress
            )
        with (
            progress.step(f"Pulling {pinned} on {server.host}"),
            server.errors(f"Pulling {pinned} on {server.host}"),
        ):
            pulled = server.client.images.pull(f"{registry}/{repository}", tag=published.digest)
            pulled.tag(*tag.rsplit(":", 1))
        return Transfer("registry", pinned)
    with progress.step(f"Sending {tag} to {server.host}"):
        sent = send_image(local, server, tag, site.repository, progress)
    return Transfer("stream", tag, sent)


def _deploy_host(
    local: Engine,
    server: Engine,
    site: Site,
    config: SiteConfig,
    progress: Progress,
    settings: DeploySettings,
) -> HostResult:
    started = time.monotonic()
    listen = replace(config, host=config.deploy_bind, port=config.deploy_port or HOST_PORT)
    # A bad certificate or a missing EAB key is said before the build.
    https = plan_https(local, server, site, config, listen.port, progress)
    if server is not local and settings.publish.named(config) is None:  # said before the build
        check_streamable(local.platform, server.platform, server.host)
    images = build_site(local, site, config, progress)
    transfer = _bring(local, server, site, images, config, progress, settings)
    live = site.live()
    everywhere = listen.host in {"0.0.0.0", "::"}
    progress.info(
        f"The site listens on {listen.host}:{listen.port} of {server.host}"
        + (": every address it has (--bind, [deploy] bind, says otherwise)." if everywhere else ".")
    )

    def check(url: str) -> CheckReport:
        report = check_site(
            url, images.built, progress, baseurl=images.baseurl, site_url=images.site_url,
            redirects=images.redirects,
        )  # fmt: skip
        return report.for_up(strict=settings.strict)

    switched = None
    with site_lock(live):
        serving = serving_now(server, live, listen.host, listen.port)
        replaced = str(serving.attrs.get("Image")) if serving is not None else None
        front = before_switch(server, live, https, images.image.tag, progress) if https else None
        tls = front.tls if front else None
        running = current_front(server, live)
        if (
            replaced != images.image.id
            or running is None
            or not front_matches(server, running, tls)
        ):
            switched = switch_to(
                server, live, images.image.tag, images.content_hash, check, listen, progress,
                front_image=images.image.tag, serving=serving, strict=settings.strict,
                live_reload=False, tls=tls,
            )  # fmt: skip
            if replaced != images.image.id:
                keep_for_rollback(server, live, replaced)
        after_switch(server, live, https, front, progress)
    _prune(server, site)
    return HostResult(
        images, transfer, switched, host_status(server, live), time.monotonic() - started
    )


def _prune(server: Engine, site: Site) -> None:
    """The site's images on the server that nothing uses and `rollback` does not keep."""
    with server.errors(f"Listing the images of {site.repository} on {server.host}"):
        images = server.client.images.list(name=site.repository)
        kept = {image.id for image in server.client.images.list(name=live_repository(site))}
    for image in images:
        if image.id in kept:
            continue
        # Still used by a container (the serving version, the front): it stays.
        with contextlib.suppress(SitedeployError), server.errors(f"Removing {image.id}"):
            server.client.images.remove(str(image.id), noprune=False)
