"""The containers of a site's preview, found by their labels, hardened by default.

A preview is two kinds of container on a network of its own:

* the **front** (`sitedeploy-<name>-<id>`): nginx from the runtime image, publishing the
  user's `--host:--port` and proxying to the current server (see front.py);
* a **server** (`sitedeploy-<name>-<id>-<suffix>`): the site image itself, published only on
  an ephemeral 127.0.0.1 port so sitedeploy can check it before the front points at it.

Every container runs as the image's unprivileged user on a read-only root filesystem (a
small tmpfs at /tmp for nginx's pid and temporary files), with every capability dropped and
no-new-privileges, and is restarted by the daemon unless a user stops it.
"""

from __future__ import annotations

import errno
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import docker.errors
import requests
from docker.models.containers import Container

from deployer.engine import Engine
from deployer.errors import NotRunning, PortUnavailable, PreviewFailed
from deployer.site import CONTENT_LABEL, ROLE_LABEL, SITE_ID_LABEL, SITE_PATH_LABEL, Site

CONTAINER_PORT = "8080/tcp"
HEALTH_PATH = "/.sitedeploy/health"
FRONT_ROLE = "front"
SERVER_ROLE = "server"

# The hardening every preview container gets (each visible in `docker inspect`).
HARDENING: dict[str, Any] = {
    "read_only": True,
    "tmpfs": {"/tmp": "rw,noexec,nosuid,nodev,size=64m,mode=1777"},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "pids_limit": 256,
    "restart_policy": {"Name": "unless-stopped"},
}


def preview_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def find_containers(engine: Engine, site: Site, role: str) -> list[Container]:
    """The site's containers in `role`, running or not, newest first."""
    with engine.errors("Listing preview containers"):
        containers: list[Container] = engine.client.containers.list(
            all=True, filters={"label": [f"{SITE_ID_LABEL}={site.id}", f"{ROLE_LABEL}={role}"]}
        )
    return sorted(containers, key=lambda c: str(c.attrs.get("Created", "")), reverse=True)


def bindings(container: Container) -> list[tuple[str, int]]:
    """The (host address, host port) pairs the container's port 8080 is published on."""
    ports = container.attrs.get("HostConfig", {}).get("PortBindings") or {}
    return [
        (binding.get("HostIp") or "0.0.0.0", int(binding["HostPort"]))
        for binding in ports.get(CONTAINER_PORT) or []
        if binding.get("HostPort")
    ]


def published_url(container: Container) -> str:
    """Where the host reaches a running container's nginx (its actual published port)."""
    container.reload()
    ports = container.attrs.get("NetworkSettings", {}).get("Ports", {}).get(CONTAINER_PORT)
    if not ports:
        raise PreviewFailed(f"Container {container.name} publishes no port; it may have exited.")
    return preview_url(ports[0]["HostIp"] or "127.0.0.1", int(ports[0]["HostPort"]))


def served_by(url: str) -> str | None:
    """The hostname (container id prefix) of the nginx answering at `url`, if any."""
    try:
        response = requests.get(url + HEALTH_PATH, timeout=3)
    except requests.RequestException:
        return None
    return response.headers.get("X-Served-By") if response.ok else None


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
    """Raise PortUnavailable unless `host:port` is free or held by this site's front."""
    ours = any(
        c.status == "running" and port in [p for _h, p in bindings(c)]
        for c in find_containers(engine, site, FRONT_ROLE)
    )
    if ours or not engine.is_local or _port_free(host, port):
        return
    raise PortUnavailable(
        f"Port {port} on {host} is already in use{_holder(engine, port)}. Stop what uses "
        "it, or choose another port with --port (or [preview] port in sitedeploy.toml)."
    )


def _holder(engine: Engine, port: int) -> str:
    with engine.errors("Listing containers"):
        for container in engine.client.containers.list(filters={"label": SITE_ID_LABEL}):
            if port in [p for _h, p in bindings(container)]:
                path = container.labels.get(SITE_PATH_LABEL, "?")
                return f" by the sitedeploy preview of {path} (container {container.name})"
    return ""


def network_name(site: Site) -> str:
    return site.container_name


def ensure_network(engine: Engine, site: Site) -> str:
    """The site's own bridge network, on which the front reaches the servers by name."""
    name = network_name(site)
    with engine.errors(f"Creating network {name}"):
        if not engine.client.networks.list(names=[name]):
            engine.client.networks.create(name, driver="bridge", labels=site.labels)
    return name


def create_hardened(
    engine: Engine, image: str, *, host: str, port: int | None, **options: Any
) -> Container:
    """Create (not start) a container with HARDENING, its port 8080 published on host:port.

    `port=None` publishes on an ephemeral port of `host`. `options` go to docker-py
    (name, labels, network, command, volumes).
    """
    name = options.get("name")
    try:
        # (host,) alone asks the daemon for an ephemeral port on that address.
        binding: Any = (host, port) if port is not None else (host,)
        container: Container = engine.client.containers.create(
            image, detach=True, ports={CONTAINER_PORT: binding}, **HARDENING, **options
        )
        return container
    except docker.errors.APIError as error:
        raise PreviewFailed(
            f"Creating container {name} failed: {error.explanation or error}"
        ) from error


def start(engine: Engine, container: Container, host: str, port: int | None) -> None:
    """Start a created container; on failure remove it and say why."""
    try:
        container.start()
    except docker.errors.APIError as error:
        explanation = str(error.explanation or error)
        container.remove(force=True)
        if "address already in use" in explanation or "port is already allocated" in explanation:
            raise PortUnavailable(
                f"Port {port} on {host} is already in use. Stop what uses it, or choose another "
                "port with --port (or [preview] port in sitedeploy.toml)."
            ) from error
        raise PreviewFailed(f"Container {container.name} did not start: {explanation}") from error


def start_server(engine: Engine, site: Site, image: str, content_hash: str) -> Container:
    """Start a server container for `image`, reachable from the host on 127.0.0.1 only."""
    network = ensure_network(engine, site)
    container = create_hardened(
        engine,
        image,
        host="127.0.0.1",
        port=None,
        name=f"{site.container_name}-{secrets.token_hex(3)}",
        labels={**site.labels, ROLE_LABEL: SERVER_ROLE, CONTENT_LABEL: content_hash},
        network=network,
    )
    start(engine, container, "127.0.0.1", None)
    return container


def remove_container(container: Container, timeout: int = 5) -> None:
    """Stop (gracefully: nginx finishes requests on SIGQUIT) and remove a container."""
    try:
        container.stop(timeout=timeout)
        container.remove(force=True)
    except docker.errors.NotFound:
        pass


@dataclass(frozen=True)
class PreviewStatus:
    """What `status` reports about a site's preview."""

    container: str | None  # the front
    state: str  # running, exited, restarting, absent …
    health: str | None  # the image HEALTHCHECK's verdict for the front
    server: str | None  # the site container the front proxies to
    image: str | None  # that container's image
    url: str | None
    answering: bool = False  # the URL answered our own request just now

    def as_dict(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "state": self.state,
            "health": self.health,
            "server": self.server,
            "image": self.image,
            "url": self.url,
            "answering": self.answering,
        }


def current_server(engine: Engine, site: Site, url: str | None) -> Container | None:
    """The server the front answers from now (asked over HTTP), if any."""
    answering = served_by(url) if url else None
    for server in find_containers(engine, site, SERVER_ROLE):
        if answering and str(server.attrs.get("Config", {}).get("Hostname")) == answering:
            return server
    return None


def preview_status(engine: Engine, site: Site) -> PreviewStatus:
    fronts = find_containers(engine, site, FRONT_ROLE)
    if not fronts:
        return PreviewStatus(None, "absent", None, None, None, None)
    front = fronts[0]
    state = front.attrs.get("State", {})
    health = (state.get("Health") or {}).get("Status")
    bound = bindings(front)
    url = preview_url(*bound[0]) if bound else None
    server = current_server(engine, site, url) if state.get("Running") else None
    return PreviewStatus(
        container=str(front.name),
        state=str(state.get("Status", "unknown")),
        health=health,
        server=str(server.name) if server else None,
        image=str(server.attrs.get("Config", {}).get("Image")) if server else None,
        url=url,
        answering=server is not None,
    )


def stop_preview(engine: Engine, site: Site) -> list[str]:
    """Remove every container of the site (front, servers), its network and front config."""
    names = []
    with engine.errors("Listing preview containers"):
        containers = engine.client.containers.list(
            all=True, filters={"label": f"{SITE_ID_LABEL}={site.id}"}
        )
    for container in containers:
        with engine.errors(f"Removing {container.name}"):
            remove_container(container)
        names.append(str(container.name))
    with engine.errors("Removing the preview network and volume"):
        for network in engine.client.networks.list(names=[network_name(site)]):
            network.remove()
        for volume in engine.client.volumes.list(filters={"label": f"{SITE_ID_LABEL}={site.id}"}):
            volume.remove(force=True)
    return names


def preview_logs(
    engine: Engine, site: Site, *, follow: bool, tail: int | Literal["all"] = "all"
) -> Iterator[bytes]:
    """The current server's nginx log (stdout and stderr), optionally following it."""
    status = preview_status(engine, site)
    servers = find_containers(engine, site, SERVER_ROLE)
    chosen = next((s for s in servers if s.name == status.server), servers[0] if servers else None)
    if chosen is None:
        raise NotRunning(
            f"No preview of {site.path} exists. Start one with `sitedeploy up {site.path}`."
        )
    with engine.errors(f"Reading the logs of {chosen.name}"):
        yield from chosen.logs(stream=True, follow=follow, tail=tail)
