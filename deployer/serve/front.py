"""The front: the container that owns the user's port, so redeploys never drop it.

Everything about the front is here: which server it answers from now (`serving_now`), the
decision to create, move or re-point it (`route`) and the switch; its files (nginx.conf,
the live link) are front_config.py's.

It is nginx from the runtime image. It reaches the current server on a unix socket: each
server's /tmp is one of two tmpfs volumes (socket slots a and b) that the front mounts
too, and the front proxies to a link, `live.sock`, that points at the current slot's
socket. To switch, sitedeploy points the link at the new server's slot in one atomic
rename (docker/runtime/sitedeploy-sock.c, run in the front): nginx is never reloaded, so
clients keep their keep-alive connections, and every new connection to the upstream
reaches the new server. The old server is then stopped gracefully (SIGQUIT: it closes its
idle connections, which the front retries on the new server, and finishes the requests it
has) and removed.

Where it can, the front runs on the host's network and listens on host:port itself: no
userland proxy between the client and nginx (measured here: 22,700 requests/s through
such a front against 11,900 through a published port). Where that is not the host's
network (Docker Desktop, a rootless or a remote daemon) or the port is privileged, it
publishes host:port like any container.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docker.models.containers import Container

from deployer.engine import Engine
from deployer.errors import PreviewFailed
from deployer.hardening import (
    HEALTH_PATH,
    HEALTHCHECK,
    HTTPS_CONTAINER_PORT,
    SOCKET_HELPER,
)
from deployer.image.extract import file_of
from deployer.labels import Label, Role
from deployer.serve.front_config import (
    CONFIG_DIR,
    LIVE_LINK,
    LIVE_RELOAD_PATH,
    PROBE_PATH,
    SLOTS,
    SLOTS_DIR,
    TLS_DIR,
    FrontTls,
    config_archive,
    listen_address,
    render_front_config,
    slot_socket,
    tls_volume,
)
from deployer.serve.front_wait import wait_for_server
from deployer.serve.preview import (
    address_label,
    create_hardened,
    current_server,
    ensure_slot_volume,
    find_containers,
    front_address,
    preview_url,
    remove_container,
    start,
)
from deployer.site import Site

# Fronts of another layout (an earlier sitedeploy's: a network and reloads) are replaced.
LAYOUT = "socket-slots-1"
SWITCH_TIMEOUT = 15.0
START_TIMEOUT = 30.0


def slot_of(server: Container | None) -> str | None:
    return (server.labels or {}).get(Label.SLOT) if server is not None else None


def _slot(server: Container) -> str:
    slot = slot_of(server)
    if slot not in SLOTS:
        raise PreviewFailed(f"{server.name} has no socket slot: not a server sitedeploy started.")
    return str(slot)


def free_slot(serving: Container | None) -> str:
    """The slot a new server takes: the one the serving server is not in."""
    return SLOTS[1] if slot_of(serving) == SLOTS[0] else SLOTS[0]


def front_live_reload(engine: Engine, site: Site) -> bool:
    """Does the site's running front have pages reload (watch mode)?"""
    front = current_front(engine, site)
    return front is not None and LIVE_RELOAD_PATH in _config_of(engine, front)


def _config_of(engine: Engine, front: Container) -> str:
    try:
        with engine.errors(f"Reading {front.name}'s configuration"):
            return file_of(front, f"{CONFIG_DIR}/nginx.conf").decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def https_port_of(front: Container) -> int | None:
    """The HTTPS port a live front listens on (None: it serves plain HTTP)."""
    port = (front.labels or {}).get(Label.HTTPS_PORT, "")
    return int(port) if port.isdigit() else None


def current_front(engine: Engine, site: Site) -> Container | None:
    fronts = [c for c in find_containers(engine, site, Role.FRONT) if c.status == "running"]
    return fronts[0] if fronts else None


def serving_now(engine: Engine, site: Site, host: str, port: int) -> Container | None:
    """The server the site's front on host:port answers from now (None: no front there)."""
    front = current_front(engine, site)
    if front is None or front_address(front) != (host, port):
        return None
    return current_server(engine, site, preview_url(host, port))


def on_host_network(engine: Engine, port: int) -> bool:
    """Can the front listen on the host's own network? Only on a rootful Linux daemon of
    this machine or of a server we reach over SSH (Docker Desktop and rootless daemons have
    a network of their own), and for an unprivileged port (nginx runs as UID 101 without
    capabilities: port 80 is published instead)."""
    if not (engine.is_local or engine.over_ssh) or port < 1024:
        return False
    with engine.errors("Reading the daemon's settings"):
        info = engine.client.info()
    security = " ".join(str(option) for option in info.get("SecurityOptions") or [])
    return (
        info.get("OSType") == "linux"
        and "rootless" not in security
        and "Docker Desktop" not in str(info.get("OperatingSystem", ""))
    )


def route(
    engine: Engine,
    site: Site,
    server: Container,
    *,
    previous: Container | None,
    runtime_image: str,
    host: str,
    port: int,
    live_reload: bool = False,
    tls: FrontTls | None = None,
    keep_front: bool = False,
) -> tuple[Container, bool, list[str]]:
    """Make the front on host:port proxy to `server`: create, move or re-point it.

    Returns the front, whether it was switched in place (the port answered throughout),
    and what the user should know (a front of an earlier layout replaced).
    `previous` is the server it answers from now, put back if the switch does not take.
    With `live_reload` (watch mode) pages reload when a new version is served; a front
    without it (or with it, outside watch mode) is reconfigured once, with a reload; so is
    a live front whose HTTPS (`tls`) changed. With `keep_front` (a rollback), a running
    front is only re-pointed, whatever its configuration.
    """
    want = _Wanted(runtime_image, host, port, live_reload, tls)
    front = current_front(engine, site)
    if front is not None and keep_front and front_address(front) == (host, port):
        _point(engine, front, server, previous=previous)
        return front, True, []
    if front is None:
        for stale in find_containers(engine, site, Role.FRONT):
            remove_container(engine, stale)
        return _create(engine, site, want, server), False, []
    note = None
    if (front.labels or {}).get(Label.FRONT_LAYOUT) != LAYOUT:
        note = (
            "The preview's front was made by an earlier sitedeploy; it was replaced by one "
            "that switches without reloading (the port was closed for a moment, once)."
        )
    elif https_port_of(front) != (tls.https_port if tls else None):
        note = (
            f"The front now listens for HTTPS on port {tls.https_port}: it was started again "
            "(the port was closed for a moment, once)."
            if tls
            else "The front no longer serves HTTPS: it was started again (once)."
        )
    if note:
        remove_container(engine, front)
        return _create(engine, site, want, server), False, [note]
    if front_address(front) != (host, port):
        return _replace(engine, site, front, want, server), False, []
    config = _render(want, _on_host_network(front))
    if _config_of(engine, front) != config:
        _reconfigure(engine, front, config)
    _point(engine, front, server, previous=previous)
    return front, True, []


@dataclass(frozen=True)
class _Wanted:
    """The front a deploy asks for."""

    image: str
    host: str
    port: int
    live_reload: bool
    tls: FrontTls | None


def _on_host_network(front: Container) -> bool:
    return bool(front.attrs.get("HostConfig", {}).get("NetworkMode") == "host")


def _render(want: _Wanted, host_network: bool) -> str:
    https = ""
    if want.tls is not None:
        https = listen_address(want.host, want.tls.https_port, host_network, HTTPS_CONTAINER_PORT)
    return render_front_config(
        listen_address(want.host, want.port, host_network),
        live_reload=want.live_reload, tls=want.tls, https_listen=https,
    )  # fmt: skip


def _live_config(front: Container, tls: FrontTls | None) -> str | None:
    """The nginx.conf a live front at its own address should have with `tls` (None: it
    does not say where it listens)."""
    address = front_address(front)
    if address is None:
        return None
    return _render(_Wanted("", address[0], address[1], False, tls), _on_host_network(front))


def front_matches(engine: Engine, front: Container, tls: FrontTls | None) -> bool:
    """Does the live front serve (or not serve) HTTPS as `tls` says?"""
    if https_port_of(front) != (tls.https_port if tls else None):
        return False
    wanted = _live_config(front, tls)
    return wanted is not None and _config_of(engine, front) == wanted


def reconfigure_tls(engine: Engine, site: Site, front: Container, tls: FrontTls) -> None:
    """Give a live front its HTTPS settings now (a certificate arrived): a reload."""
    wanted = _live_config(front, tls)
    if wanted is None:
        raise PreviewFailed(f"{front.name} does not say where it listens; `sitedeploy down` it.")
    if _config_of(engine, front) != wanted:
        _reconfigure(engine, front, wanted)


def _reconfigure(engine: Engine, front: Container, config: str) -> None:
    """Give a running front a new nginx.conf (an nginx reload: the one time its idle
    keep-alive connections are closed): live reload on or off, HTTPS changed."""
    with engine.errors(f"Reconfiguring {front.name}"):
        front.put_archive(CONFIG_DIR, config_archive(config))
        code, output = front.exec_run(
            ["/usr/sbin/nginx", "-e", "stderr", "-c", f"{CONFIG_DIR}/nginx.conf", "-s", "reload"]
        )
    if code != 0:
        said = output.decode("utf-8", "replace").strip() if isinstance(output, bytes) else ""
        raise PreviewFailed(f"{front.name}: nginx refused the new configuration: {said}")


def _create(engine: Engine, site: Site, want: _Wanted, server: Container) -> Container:
    """Start a front on host:port proxying to `server` (the port must be free)."""
    host, port, tls = want.host, want.port, want.tls
    slot = _slot(server)
    with engine.errors("Creating the front's configuration volume"):
        volume = engine.client.volumes.create(f"{site.container_name}-front", labels=site.labels)
    volumes = {str(volume.name): {"bind": CONFIG_DIR, "mode": "rw"}}
    for each in SLOTS:
        volumes[ensure_slot_volume(engine, site, each)] = {
            "bind": f"{SLOTS_DIR}/{each}",
            "mode": "rw",
        }
    labels = {
        **site.labels,
        Label.ROLE: Role.FRONT,
        Label.ADDRESS: address_label(host, port),
        Label.FRONT_LAYOUT: LAYOUT,
    }
    if tls is not None:
        volumes[tls_volume(site)] = {"bind": TLS_DIR, "mode": "ro"}
        labels[Label.HTTPS_PORT] = str(tls.https_port)
    host_network = on_host_network(engine, min(port, tls.https_port) if tls else port)
    options: dict[str, Any] = {}
    if host_network:
        # No port mapping on the host's network: the health check asks host:port itself.
        asked = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        options["network_mode"] = "host"
        options["healthcheck"] = {
            "test": ["CMD", HEALTHCHECK[0], str(port), HEALTH_PATH, asked],
            "interval": 5_000_000_000,
            "timeout": 3_000_000_000,
            "retries": 3,
            "start_period": 5_000_000_000,
        }
    front = create_hardened(
        engine,
        want.image,
        publish=None if host_network else (host, port),
        publish_https=None if host_network or tls is None else tls.https_port,
        name=site.container_name,
        labels=labels,
        command=["-c", f"{CONFIG_DIR}/nginx.conf"],
        volumes=volumes,
        **options,
    )
    with engine.errors("Writing the front's configuration"):
        front.put_archive(CONFIG_DIR, config_archive(_render(want, host_network), slot))
    start(engine, front, host, port)
    wait_for_server(engine, preview_url(host, port), server, front, timeout=START_TIMEOUT)
    return front


def _link(engine: Engine, front: Container, server: Container) -> None:
    """Point the front's live link at `server`'s socket, atomically."""
    slot = _slot(server)
    with engine.errors(f"Switching {front.name} to {server.name}"):
        code, output = front.exec_run([SOCKET_HELPER, "point", LIVE_LINK, slot_socket(slot)])
    if code != 0:
        said = output.decode("utf-8", "replace").strip() if isinstance(output, bytes) else ""
        raise PreviewFailed(f"{front.name}: could not point the front at {server.name}: {said}")


def _point(engine: Engine, front: Container, server: Container, previous: Container | None) -> None:
    """Move the front to `server`; if it does not take, put `previous` back and raise.

    Returns once the front's live link answers from `server` (asked past the front's pool
    of upstream connections, which still hold connections to the previous server until
    the caller stops it)."""
    address = front_address(front)
    if address is None:
        raise PreviewFailed(f"{front.name} does not say where it listens; `sitedeploy down` it.")
    url = preview_url(*address)
    _link(engine, front, server)
    try:
        wait_for_server(engine, url, server, front, path=PROBE_PATH, timeout=SWITCH_TIMEOUT)
    except PreviewFailed:
        if previous is not None and slot_of(previous) != slot_of(server):
            _link(engine, front, previous)
        raise


def _replace(
    engine: Engine, site: Site, old: Container, want: _Wanted, server: Container
) -> Container:
    """Listen on a new host:port: start a new front there, then retire the old one."""
    with engine.errors(f"Renaming {old.name}"):
        old.rename(f"{site.container_name}-retiring")
    try:
        front = _create(engine, site, want, server)
    except BaseException:
        with engine.errors(f"Renaming {old.name} back"):
            old.rename(site.container_name)
        raise
    remove_container(engine, old)
    return front
