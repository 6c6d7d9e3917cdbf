"""A site live on a server with Docker — this machine, or one reached over SSH: the same
front as the preview (the switch that drops no request), on the address and port the
server's visitors use, hardened the same way; the version it replaced kept, for rollback.

The live deployment has containers of its own (`Site.live()`), so a preview of the same
site on the same machine never meets it. The front runs the site image itself: on a
server the runtime image is not otherwise there, and the site image is the runtime plus
the site's files.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from deployer.check.findings import CheckReport, Finding, Kind
from deployer.check.health import wait_until_serving
from deployer.check.http import HttpClient, HttpFailure
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import NotRunning, SitedeployError
from deployer.labels import Label, Role, content_tag
from deployer.progress import Progress
from deployer.serve.front import current_front, https_port_of, serving_now
from deployer.serve.preview import find_containers, front_address, preview_url, stop_preview
from deployer.serve.switch import Switched, switch_to
from deployer.ship.tls import TlsStatus, remove_renewer, tls_status
from deployer.site import Site, page_url

PREVIOUS = "previous"  # the tag of the version a deploy replaced, kept for `rollback`


def live_repository(live: Site) -> str:
    """Where the live deployment keeps its own tags: out of the reach of a preview's
    pruning of the site's repositories, on the same machine."""
    return f"{live.repository}-live"


def kept_tag(live: Site) -> str:
    return f"{live_repository(live)}:{PREVIOUS}"


@dataclass(frozen=True)
class Version:
    """One version of the site on the server: its image and what it was built from."""

    image: str  # the image id
    content: str  # the content tag (the first 12 digits of the inputs' hash)
    since: str | None = None  # when its server started (None: kept, not running)
    health: str | None = None  # the image HEALTHCHECK's verdict, when running
    digest: str | None = None  # REPOSITORY@sha256:… when it came through a registry

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class HostStatus:
    """What runs where on the server, as a person on call wants it."""

    server: str  # the engine's address (ssh://…, or this machine's socket)
    front: str | None
    state: str  # running, exited, … or absent
    address: tuple[str, int] | None  # where the front listens on the server
    url: str | None  # the site's home page there
    current: Version | None
    previous: Version | None  # kept for rollback
    tls: TlsStatus | None = None  # its certificate (None: plain HTTP)

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "front": self.front,
            "state": self.state,
            "listen": f"{self.address[0]}:{self.address[1]}" if self.address else None,
            "url": self.url,
            "current": self.current.as_dict() if self.current else None,
            "previous": self.previous.as_dict() if self.previous else None,
            "tls": self.tls.as_dict() if self.tls else None,
        }


def _version(engine: Engine, image_id: str, container: Any = None) -> Version | None:
    image = engine.find_image(image_id)
    if image is None:
        return None
    labels = dict(image.labels or {})
    since = health = None
    if container is not None:
        state = container.attrs.get("State", {})
        since = state.get("StartedAt")
        health = (state.get("Health") or {}).get("Status")
    digests = [str(digest) for digest in image.attrs.get("RepoDigests") or []]
    return Version(
        str(image.id),
        content_tag(labels.get(Label.CONTENT_HASH, "")),
        since,
        health,
        digests[0] if digests else None,
    )


def public_url(
    engine: Engine, host: str, port: int, *, https: bool = False, names: tuple[str, ...] = ()
) -> str:
    """Where people reach a front listening on `host`:`port` of the engine's machine: on a
    server over SSH listening everywhere, the server's own name (no :80); over HTTPS,
    the certificate's first name (no :443)."""
    if not https and (not engine.over_ssh or host not in {"0.0.0.0", "::"}):
        return preview_url(host, port)
    plain = [name for name in names if not name.startswith("*.")]
    name = plain[0] if https and plain else urlsplit(engine.host).hostname or host
    if name in {"0.0.0.0", "::"}:
        name = "127.0.0.1"
    shown = f"[{name}]" if ":" in name else name
    scheme, default = ("https", 443) if https else ("http", 80)
    return f"{scheme}://{shown}" if port == default else f"{scheme}://{shown}:{port}"


def host_status(engine: Engine, live: Site) -> HostStatus:
    """The live deployment on `engine`: its front, the version serving, the one kept."""
    front = current_front(engine, live) or next(
        iter(find_containers(engine, live, Role.FRONT)), None
    )
    previous = engine.find_image(kept_tag(live))
    kept = _version(engine, str(previous.id)) if previous is not None else None
    if front is None:
        return HostStatus(engine.host, None, "absent", None, None, None, kept)
    address = front_address(front)
    server = serving_now(engine, live, *address) if address else None
    current = _version(engine, str(server.attrs.get("Image")), server) if server else None
    https = https_port_of(front)
    tls = tls_status(engine, live, front) if https else None
    url = None
    if address and server is not None:
        root = public_url(engine, *address)
        if tls is not None and tls.certificate is not None and https is not None:
            root = public_url(engine, address[0], https, https=True, names=tls.certificate.names)
        url = page_url(root, (server.labels or {}).get(Label.BASEURL, ""))
    state = str(front.attrs.get("State", {}).get("Status", "unknown"))
    return HostStatus(engine.host, str(front.name), state, address, url, current, kept, tls)


def keep_for_rollback(engine: Engine, live: Site, replaced: str | None) -> None:
    """After a switch: tag the image that was serving before it (`replaced`, an image id)
    as the one `rollback` returns to. Called only once the switch succeeded, so a failed
    deploy keeps the version kept before it."""
    if replaced is None:
        return
    with engine.errors("Keeping the replaced version for rollback"):
        engine.client.images.get(replaced).tag(live_repository(live), PREVIOUS)


def _home_answers(url: str, baseurl: str) -> CheckReport:
    """The check of a version that ran before (its `_site` is not here to compare with):
    it starts, and its home page answers 200."""
    wait_until_serving(url)
    report = CheckReport(url=url)
    home = f"{url}{baseurl}/"
    try:
        answer = HttpClient(workers=1).request(home)
    except HttpFailure as error:
        report.findings.append(Finding(Kind.UNREACHABLE, home, f"request failed: {error}"))
        return report
    if answer.status != 200:
        report.findings.append(Finding(Kind.NOT_SERVED, home, f"status {answer.status}"))
    report.files_checked = 1
    return report


def rollback_host(engine: Engine, live: Site, config: SiteConfig, progress: Progress) -> Switched:
    """Serve the version the last deploy replaced again (the same switch, no request
    dropped); the version it replaces becomes the one kept."""
    kept = engine.find_image(kept_tag(live))
    if kept is None:
        raise NotRunning(
            f"No earlier version of {live.path} is kept on {engine.host}: nothing to roll "
            "back to (a rollback needs two deploys)."
        )
    front = current_front(engine, live)
    address = front_address(front) if front is not None else None
    if address is not None:  # where the live front listens, whatever the config says now
        config = replace(config, host=address[0], port=address[1])
    serving = serving_now(engine, live, config.host, config.port)
    labels = dict(kept.labels or {})
    baseurl = labels.get(Label.BASEURL, "")
    content = labels.get(Label.CONTENT_HASH, "")
    restored = f"{live.repository}:{content_tag(content)}"  # its tag when it was deployed
    with engine.errors(f"Tagging {restored}"):
        kept.tag(*restored.rsplit(":", 1))
    switched = switch_to(
        engine, live, restored, content,
        lambda url: _home_answers(url, baseurl), config, progress,
        front_image=restored, serving=serving, strict=False, live_reload=False, keep_front=True,
    )  # fmt: skip
    keep_for_rollback(engine, live, str(serving.attrs.get("Image")) if serving else None)
    return switched


def remove_host(engine: Engine, live: Site) -> list[str]:
    """Stop and remove the live deployment's containers (its front first) and the image
    kept for rollback; other images of the site stay."""
    removed = [*remove_renewer(engine, live), *stop_preview(engine, live)]
    with contextlib.suppress(SitedeployError), engine.errors("Removing the kept version"):
        engine.client.images.remove(kept_tag(live))
    return removed
