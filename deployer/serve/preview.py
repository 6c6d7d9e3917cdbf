"""The containers of a site's preview, found by their labels, hardened by default.

A preview is two kinds of container:

* the **front** (`sitedeploy-<name>-<id>`): nginx from the runtime image, listening on the
  user's `--host:--port` and proxying to the current server (front.py owns it);
* a **server** (`sitedeploy-<name>-<id>-<suffix>`): the site image itself, published only on
  an ephemeral 127.0.0.1 port so sitedeploy can check it before the front points at it.
  Its /tmp is one of two socket slots (tmpfs volumes, `<front>-slot-a` and `-slot-b`) that
  the front mounts too: the front reaches the server's nginx on a unix socket there.

Every container gets the hardening of `deployer.hardening`.
"""

from __future__ import annotations

import contextlib
import errno
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import requests
from docker.models.containers import Container

from deployer.engine import Engine
from deployer.errors import EngineError, NotRunning, PortUnavailable, PreviewFailed, SitedeployError
from deployer.hardening import (
    HEALTH_PATH,
    HTTPS_PORT_KEY,
    NGINX,
    PORT_KEY,
    SLOT_CONFIG,
    SOCKET_DIR,
    SOCKET_HELPER,
    SOCKET_PATH,
    TMP_PATH,
    container_options,
    slot_volume_options,
)
from deployer.labels import Label, Role
from deployer.provenance.sbom import files_from_labels
from deployer.site import Site, page_url, site_filter


def preview_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def find_containers(engine: Engine, site: Site, role: Role) -> list[Container]:
    """The site's containers in `role`, running or not, newest first."""
    with engine.errors("Listing preview containers"):
        containers: list[Container] = engine.client.containers.list(
            all=True, filters=site_filter(site, role)
        )
    return sorted(containers, key=lambda c: str(c.attrs.get("Created", "")), reverse=True)


def bindings(container: Container) -> list[tuple[str, int]]:
    """The (host address, host port) pairs the container's port 8080 is published on."""
    ports = container.attrs.get("HostConfig", {}).get("PortBindings") or {}
    return [
        (binding.get("HostIp") or "0.0.0.0", int(binding["HostPort"]))
        for binding in ports.get(PORT_KEY) or []
        if binding.get("HostPort")
    ]


def address_label(host: str, port: int) -> str:
    return f"{host} {port}"


def front_address(front: Container) -> tuple[str, int] | None:
    """Where a front listens: its address label (on the host's network it publishes
    nothing), or — a front of an earlier sitedeploy — its published port."""
    host, _, port = (front.labels or {}).get(Label.ADDRESS, "").partition(" ")
    if host and port.isdigit():
        return host, int(port)
    bound = bindings(front)
    return bound[0] if bound else None


def published_url(engine: Engine, container: Container) -> str:
    """Where we reach a running container's nginx (its actual published port; on an
    ssh:// engine, through the SSH connection)."""
    with engine.errors(f"Inspecting {container.name}"):
        container.reload()
    ports = container.attrs.get("NetworkSettings", {}).get("Ports", {}).get(PORT_KEY)
    if not ports:
        raise PreviewFailed(f"Container {container.name} publishes no port; it may have exited.")
    return engine.reach(preview_url(ports[0]["HostIp"] or "127.0.0.1", int(ports[0]["HostPort"])))


def served_by(url: str, path: str = HEALTH_PATH) -> str | None:
    """The hostname (container id prefix) of the nginx answering `path` at `url`, if any."""
    try:
        response = requests.get(url + path, timeout=3)
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
        c.status == "running" and (front_address(c) or ("", 0))[1] == port
        for c in find_containers(engine, site, Role.FRONT)
    )
    if ours or not engine.is_local or _port_free(host, port):
        return
    raise PortUnavailable(
        f"Port {port} on {host} is already in use{_holder(engine, port)}. Stop what uses "
        "it, or choose another port with --port (or [preview] port in sitedeploy.toml)."
    )


def _holder(engine: Engine, port: int) -> str:
    with engine.errors("Listing containers"):
        for container in engine.client.containers.list(filters={"label": str(Label.SITE_ID)}):
            if port in [p for _h, p in bindings(container)] or (
                (front_address(container) or ("", 0))[1] == port
            ):
                path = container.labels.get(Label.SITE_PATH, "?")
                return f" by the sitedeploy preview of {path} (container {container.name})"
    return ""


def network_name(site: Site) -> str:
    """The bridge network earlier sitedeploy versions made for a preview (removed by
    `down`); fronts now reach their servers through socket slots instead."""
    return site.container_name


# Images of sitedeploy before 2026-12 listen on this socket from their own nginx.conf, their
# /tmp the slot volume (Podman 5 hides such a volume under a tmpfs of its own).
EARLIER_SOCKET_PATH = "/tmp/sitedeploy.sock"


def slot_volume(site: Site, slot: str) -> str:
    return f"{site.container_name}-slot-{slot}"


def ensure_slot_volume(engine: Engine, site: Site, slot: str) -> str:
    """A socket slot: a small tmpfs volume, at SOCKET_DIR in the server in it."""
    name = slot_volume(site, slot)
    with engine.errors(f"Creating the socket slot volume {name}"):
        if not engine.client.volumes.list(filters={"name": f"^{name}$"}):
            engine.client.volumes.create(
                name,
                driver="local",
                driver_opts=slot_volume_options(podman=engine.kind.podman),
                labels=site.labels,
            )
    return name


def create_hardened(
    engine: Engine,
    image: str,
    *,
    publish: tuple[str, int | None] | None,
    publish_https: int | None = None,
    **options: Any,
) -> Container:
    """Create (not start) a hardened container, its port 8080 published on `publish`
    (host, port); port None: an ephemeral port of that host; None: not published.

    `options` go to docker-py (name, labels, network_mode, command, volumes …, or a
    restart policy of its own).
    """
    if publish is not None:
        host, port = publish
        # (host,) alone asks the daemon for an ephemeral port on that address.
        options["ports"] = {PORT_KEY: (host, port) if port is not None else (host,)}
        if publish_https is not None:  # a live front's HTTPS (its nginx: HTTPS_PORT_KEY)
            options["ports"][HTTPS_PORT_KEY] = (host, publish_https)
    with engine.errors(f"Creating container {options.get('name')}"):
        container: Container = engine.client.containers.create(
            image, detach=True, **{**container_options(), **options}
        )
    return container


def start(engine: Engine, container: Container, host: str, port: int | None) -> None:
    """Start a created container; on failure remove it and say why."""
    where = f"{host}:{port}" if port is not None else f"an ephemeral port of {host}"
    try:
        with engine.errors(f"Starting {container.name} on {where}"):
            container.start()
    except SitedeployError:
        with engine.errors(f"Removing {container.name}"):
            container.remove(force=True)
        raise


def _has_slot_config(engine: Engine, image: str) -> bool:
    """Does `image` have the runtime's slot.conf (says its bill of materials)?"""
    found = engine.find_image(image)
    files = files_from_labels(dict(found.labels or {})) if found is not None else []
    return any(file.path == SLOT_CONFIG for file in files)


def start_server(engine: Engine, site: Site, image: str, content_hash: str, slot: str) -> Container:
    """Start a server container for `image` in socket slot `slot`, reachable from the host
    on an ephemeral 127.0.0.1 port only (and by the front, on its socket)."""
    volume = ensure_slot_volume(engine, site, slot)
    labels = {
        **site.labels, Label.ROLE: Role.SERVER, Label.CONTENT_HASH: content_hash,
        Label.SLOT: slot,
    }  # fmt: skip
    if _has_slot_config(engine, image):
        mounts: dict[str, Any] = {"volumes": {volume: {"bind": SOCKET_DIR, "mode": "rw"}}}
        serve = [SOCKET_PATH, *NGINX, "-c", SLOT_CONFIG]
    else:  # an image of an earlier sitedeploy (`rollback` to it): the slot is its /tmp
        mounts = {"volumes": {volume: {"bind": TMP_PATH, "mode": "rw"}}, "tmpfs": {}}
        serve = [EARLIER_SOCKET_PATH, *NGINX]
    container = create_hardened(
        engine,
        image,
        publish=("127.0.0.1", None),
        name=f"{site.container_name}-{secrets.token_hex(3)}",
        labels=labels,
        # A server that was killed leaves its socket behind; remove it before nginx binds.
        entrypoint=[SOCKET_HELPER, "serve", *serve],
        **mounts,
    )
    start(engine, container, "127.0.0.1", None)
    return container


def remove_container(engine: Engine, container: Container, timeout: int = 5) -> None:
    """Stop (gracefully: nginx stops accepting, closes idle connections and finishes the
    requests it has on SIGQUIT, for up to `timeout` seconds) and remove a container."""
    try:
        with engine.errors(f"Removing {container.name}"):
            container.stop(timeout=timeout)
            container.remove(force=True)
    except EngineError:
        if engine.find_container(str(container.id)) is not None:
            raise  # not just removed already (by a user, or by the daemon)


def logs_tail(engine: Engine, container: Container, lines: int = 20) -> str:
    """The last lines a container's nginx wrote ("" if it has none, or is gone)."""
    with contextlib.suppress(SitedeployError), engine.errors(f"Reading {container.name}'s log"):
        return str(container.logs(tail=lines).decode("utf-8", "replace")).rstrip()
    return ""


@dataclass(frozen=True)
class PreviewStatus:
    """What `status` reports about a site's preview."""

    container: str | None  # the front
    state: str  # running, exited, restarting, absent …
    health: str | None  # the image HEALTHCHECK's verdict for the front
    server: str | None  # the site container the front proxies to
    image: str | None  # that container's image
    url: str | None  # the server's root (where the front listens)
    answering: bool = False  # the URL answered our own request just now
    baseurl: str = ""  # the site's base path, as the served image was built

    @property
    def page_url(self) -> str | None:
        """The URL of the site's home page (under its base path): the one to open."""
        return page_url(self.url, self.baseurl) if self.url else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "state": self.state,
            "health": self.health,
            "server": self.server,
            "image": self.image,
            "url": self.page_url,
            "root_url": self.url,
            "answering": self.answering,
        }


def current_server(engine: Engine, site: Site, url: str | None) -> Container | None:
    """The server the front answers from now (asked over HTTP), if any."""
    answering = served_by(engine.reach(url)) if url else None
    for server in find_containers(engine, site, Role.SERVER):
        if answering and str(server.attrs.get("Config", {}).get("Hostname")) == answering:
            return server
    return None


def preview_status(engine: Engine, site: Site) -> PreviewStatus:
    fronts = find_containers(engine, site, Role.FRONT)
    if not fronts:
        return PreviewStatus(None, "absent", None, None, None, None)
    front = fronts[0]
    state = front.attrs.get("State", {})
    health = (state.get("Health") or {}).get("Status")
    address = front_address(front)
    url = preview_url(*address) if address else None
    server = current_server(engine, site, url) if state.get("Running") else None
    return PreviewStatus(
        container=str(front.name),
        state=str(state.get("Status", "unknown")),
        health=health,
        server=str(server.name) if server else None,
        image=str(server.attrs.get("Config", {}).get("Image")) if server else None,
        url=url,
        answering=server is not None,
        baseurl=(server.labels or {}).get(Label.BASEURL, "") if server else "",
    )


def stop_preview(engine: Engine, site: Site) -> list[str]:
    """Remove every container of the site (front, servers), its network and front config."""
    names = []
    with engine.errors("Listing preview containers"):
        containers = engine.client.containers.list(all=True, filters=site_filter(site))
    for container in containers:
        remove_container(engine, container)
        names.append(str(container.name))
    with engine.errors("Removing the preview network and volume"):
        for network in engine.client.networks.list(names=[network_name(site)]):
            network.remove()
        for volume in engine.client.volumes.list(filters=site_filter(site)):
            volume.remove(force=True)
    return names


def preview_logs(
    engine: Engine, site: Site, *, follow: bool, tail: int | Literal["all"] = "all"
) -> Iterator[bytes]:
    """The current server's nginx log (stdout and stderr), optionally following it."""
    status = preview_status(engine, site)
    servers = find_containers(engine, site, Role.SERVER)
    chosen = next((s for s in servers if s.name == status.server), servers[0] if servers else None)
    if chosen is None:
        raise NotRunning(
            f"No preview of {site.path} exists. Start one with `sitedeploy up {site.path}`."
        )
    with engine.errors(f"Reading the logs of {chosen.name}"):
        yield from chosen.logs(stream=True, follow=follow, tail=tail)
