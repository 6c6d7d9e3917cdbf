"""The preview container: one per site, found by its labels, hardened by default.

It runs as the image's unprivileged user on a read-only root filesystem (a small tmpfs
at /tmp for nginx's pid and temporary files), with every capability dropped and
no-new-privileges, published on `--host:--port` only, restarted by the daemon unless a
user stops it.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import docker.errors
import requests
from docker.models.containers import Container

from deployer.engine import Engine
from deployer.errors import NotRunning, PortUnavailable, PreviewFailed
from deployer.site import CONTENT_LABEL, ROLE_LABEL, SITE_ID_LABEL, Site

CONTAINER_PORT = "8080/tcp"
HEALTH_PATH = "/.sitedeploy/health"
PREVIEW_ROLE = "preview"


@dataclass(frozen=True)
class PreviewStatus:
    """What `status` reports about a site's preview."""

    container: str | None
    state: str  # running, exited, restarting, absent …
    health: str | None  # the image HEALTHCHECK's verdict: healthy, unhealthy, starting
    image: str | None
    url: str | None
    answering: bool = False  # the URL answered our own request just now

    def as_dict(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "state": self.state,
            "health": self.health,
            "image": self.image,
            "url": self.url,
            "answering": self.answering,
        }


def preview_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def find_previews(engine: Engine, site: Site) -> list[Container]:
    """The site's preview containers, running or not, newest first."""
    with engine.errors("Listing preview containers"):
        containers: list[Container] = engine.client.containers.list(
            all=True,
            filters={"label": [f"{SITE_ID_LABEL}={site.id}", f"{ROLE_LABEL}={PREVIEW_ROLE}"]},
        )
    return sorted(containers, key=lambda c: c.attrs.get("Created", ""), reverse=True)


def _bindings(container: Container) -> list[tuple[str, int]]:
    ports = container.attrs.get("HostConfig", {}).get("PortBindings") or {}
    return [
        (binding.get("HostIp") or "0.0.0.0", int(binding["HostPort"]))
        for binding in ports.get(CONTAINER_PORT) or []
        if binding.get("HostPort")
    ]


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in {errno.EADDRINUSE, errno.EACCES}:
                return False
            raise
    return True


def ensure_port_available(engine: Engine, site: Site, host: str, port: int) -> None:
    """Raise PortUnavailable unless `host:port` is free or held by this site's preview."""
    ours = any(
        c.status == "running" and (port in [p for _h, p in _bindings(c)])
        for c in find_previews(engine, site)
    )
    if ours or not engine.is_local or _port_free(host, port):
        return
    holder = _other_sitedeploy_holder(engine, port)
    raise PortUnavailable(
        f"Port {port} on {host} is already in use{holder}. Stop what uses it, or choose "
        "another port with --port (or [preview] port in sitedeploy.toml)."
    )


def _other_sitedeploy_holder(engine: Engine, port: int) -> str:
    with engine.errors("Listing containers"):
        for container in engine.client.containers.list(filters={"label": SITE_ID_LABEL}):
            if port in [p for _h, p in _bindings(container)]:
                path = container.labels.get("io.sitedeploy.site-path", "?")
                return f" by the sitedeploy preview of {path} (container {container.name})"
    return ""


def start_preview(
    engine: Engine, site: Site, image: str, content_hash: str, host: str, port: int, name: str
) -> Container:
    """Start the hardened preview container from `image`, published on host:port."""
    try:
        container: Container = engine.client.containers.run(
            image,
            name=name,
            detach=True,
            labels={**site.labels, ROLE_LABEL: PREVIEW_ROLE, CONTENT_LABEL: content_hash},
            ports={CONTAINER_PORT: (host, port)},
            read_only=True,
            tmpfs={"/tmp": "rw,noexec,nosuid,nodev,size=64m,mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            pids_limit=256,
            restart_policy={"Name": "unless-stopped"},
        )  # type: ignore[call-overload]  # types-docker omits "unless-stopped"
    except docker.errors.APIError as error:
        explanation = str(error.explanation or error)
        leftover = _by_name(engine, name)
        if leftover is not None:
            leftover.remove(force=True)
        if "address already in use" in explanation or "port is already allocated" in explanation:
            raise PortUnavailable(
                f"Port {port} on {host} is already in use. Stop what uses it, or choose another "
                "port with --port (or [preview] port in sitedeploy.toml)."
            ) from error
        raise PreviewFailed(f"The preview container did not start: {explanation}") from error
    return container


def _by_name(engine: Engine, name: str) -> Container | None:
    try:
        container: Container = engine.client.containers.get(name)
    except docker.errors.NotFound:
        return None
    return container


def preview_status(engine: Engine, site: Site) -> PreviewStatus:
    previews = find_previews(engine, site)
    if not previews:
        return PreviewStatus(None, "absent", None, None, None)
    container = previews[0]
    state = container.attrs.get("State", {})
    health = (state.get("Health") or {}).get("Status")
    bindings = _bindings(container)
    url = preview_url(*bindings[0]) if bindings else None
    image = container.attrs.get("Config", {}).get("Image")
    answering = False
    if url and state.get("Running"):
        try:
            answering = requests.get(f"{url}{HEALTH_PATH}", timeout=3).ok
        except requests.RequestException:
            answering = False
    return PreviewStatus(
        container.name, str(state.get("Status", "unknown")), health, image, url, answering
    )


def stop_previews(engine: Engine, site: Site) -> list[str]:
    """Stop and remove every preview container of the site; return their names."""
    names = []
    for container in find_previews(engine, site):
        with engine.errors(f"Removing {container.name}"):
            remove_container(container)
        names.append(str(container.name))
    return names


def preview_logs(
    engine: Engine, site: Site, *, follow: bool, tail: int | Literal["all"] = "all"
) -> Iterator[bytes]:
    """The nginx container's log output (stdout and stderr), optionally following it."""
    previews = find_previews(engine, site)
    if not previews:
        raise NotRunning(
            f"No preview of {site.path} exists. Start one with `sitedeploy up {site.path}`."
        )
    with engine.errors(f"Reading the logs of {previews[0].name}"):
        logs = previews[0].logs(stream=True, follow=follow, tail=tail)
        yield from logs


def remove_container(container: Container, timeout: int = 5) -> None:
    """Stop (gracefully, nginx finishes requests on SIGQUIT) and remove a container."""
    try:
        container.stop(timeout=timeout)
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
