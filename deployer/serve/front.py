"""The front: the container that owns the user's port, so redeploys never drop it.

Everything about the front is here: which server it answers from now (`serving_now`), the
decision to create, move or re-point it (`route`), its configuration (docker/front.conf.in)
and the switch.

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

import io
import tarfile
import time
from string import Template
from typing import Any

from docker.models.containers import Container

from deployer import __version__
from deployer.engine import Engine
from deployer.errors import PortUnavailable, PreviewFailed
from deployer.hardening import (
    CONTAINER_PORT,
    HEALTH_PATH,
    HEALTHCHECK,
    SOCKET_HELPER,
    USER_ID,
)
from deployer.labels import Label, Role
from deployer.resources import docker_dir
from deployer.serve.preview import (
    address_label,
    create_hardened,
    current_server,
    ensure_slot_volume,
    find_containers,
    front_address,
    logs_tail,
    preview_url,
    remove_container,
    served_by,
    start,
)
from deployer.site import Site
from deployer.waiting import wait_until

CONFIG_DIR = "/etc/sitedeploy/front"
SLOTS_DIR = "/run/sitedeploy"
SLOTS = ("a", "b")
LIVE_DIR = f"{CONFIG_DIR}/live"  # nginx's (UID 101): the helper renames the link in it
LIVE_LINK = f"{LIVE_DIR}/site.sock"
PROBE_PATH = "/.sitedeploy/front-probe"  # the live link's server, past the front's pool
# Fronts of another layout (an earlier sitedeploy's: a network and reloads) are replaced.
LAYOUT = "socket-slots-1"
SWITCH_TIMEOUT = 15.0
START_TIMEOUT = 30.0


def slot_socket(slot: str) -> str:
    """Where the front finds the socket of the server in `slot`."""
    return f"{SLOTS_DIR}/{slot}/sitedeploy.sock"


def slot_of(server: Container | None) -> str | None:
    return (server.labels or {}).get(Label.SLOT) if server is not None else None


def free_slot(serving: Container | None) -> str:
    """The slot a new server takes: the one the serving server is not in."""
    return SLOTS[1] if slot_of(serving) == SLOTS[0] else SLOTS[0]


def _render(template: str, **values: object) -> str:
    text = (docker_dir() / template).read_text(encoding="utf-8")
    return Template(text).substitute(version=__version__, **values)


def _listen(host: str, port: int, on_host_network: bool) -> str:
    if not on_host_network:
        return str(CONTAINER_PORT)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# Watch mode: a page a browser asks for (Accept: text/html) gets a script that asks for
# the page again every 250 ms (as any other client: through the front's pool of
# connections, so never ahead of what a reload would get, and without the script) and
# reloads it when its bytes changed. (nginx's brotli_static sends no ETag to compare.)
# Only there: other clients (`sitedeploy check`, curl) get the site's bytes as they are,
# and the image never has it.
LIVE_RELOAD_PATH = "/.sitedeploy/livereload.js"
LIVE_RELOAD_JS = (
    '(function(){var seen=null;function poll(){fetch(location.href,{cache:"no-store"})'
    ".then(function(r){return r.text()}).then(function(now){if(seen!==null&&now!==seen){"
    "location.reload();return}seen=now;setTimeout(poll,250)},function(){setTimeout(poll,1000)"
    "})}poll()})();"
)
_LIVE_RELOAD_MAPS = """
    # Watch mode: pages for browsers get the live reload script (see below).
    map $http_accept $sitedeploy_reload_tag {
        default "";
        "~text/html" '<script src="PATH"></script>';
    }
    map $http_accept $sitedeploy_upstream_encoding {
        default $http_accept_encoding;
        "~text/html" "";  # sub_filter needs the page uncompressed
    }"""
_LIVE_RELOAD_FILTER = """
            proxy_set_header Accept-Encoding $sitedeploy_upstream_encoding;
            sub_filter "</body>" "$sitedeploy_reload_tag</body>";
            sub_filter_once on;"""
_LIVE_RELOAD_SCRIPT = """
        location = PATH {
            default_type application/javascript;
            charset utf-8;
            add_header Cache-Control "no-store" always;
            return 200 'SCRIPT';
        }"""


def render_front_config(listen: str, *, live_reload: bool = False) -> str:
    """The front's nginx.conf (with `live_reload`: watch mode's reload script)."""
    script = LIVE_RELOAD_JS
    pieces = {
        "live_reload_maps": _LIVE_RELOAD_MAPS.replace("PATH", LIVE_RELOAD_PATH),
        "live_reload_filter": _LIVE_RELOAD_FILTER,
        "live_reload_script": _LIVE_RELOAD_SCRIPT.replace("PATH", LIVE_RELOAD_PATH).replace(
            "SCRIPT", script
        ),
    }
    if not live_reload:
        pieces = dict.fromkeys(pieces, "")
    return _render("front.conf.in", listen=listen, live=LIVE_LINK, probe=PROBE_PATH, **pieces)


def front_live_reload(engine: Engine, site: Site) -> bool:
    """Does the site's running front have pages reload (watch mode)?"""
    front = current_front(engine, site)
    return front is not None and LIVE_RELOAD_PATH in _config_of(engine, front)


def _config_of(engine: Engine, front: Container) -> str:
    with engine.errors(f"Reading {front.name}'s configuration"):
        chunks, _stat = front.get_archive(f"{CONFIG_DIR}/nginx.conf")
        data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive:
            handle = archive.extractfile(member)
            if handle is not None:
                return handle.read().decode("utf-8", "replace")
    return ""


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
    """Can the front listen on the host's own network? Only on a local, rootful Linux
    daemon (Docker Desktop and rootless daemons have a network of their own), and for an
    unprivileged port (nginx runs as UID 101 without capabilities)."""
    if not engine.is_local or port < 1024:
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
) -> tuple[Container, bool, list[str]]:
    """Make the front on host:port proxy to `server`: create, move or re-point it.

    Returns the front, whether it was switched in place (the port answered throughout),
    and what the user should know (a front of an earlier layout replaced).
    `previous` is the server it answers from now, put back if the switch does not take.
    With `live_reload` (watch mode) pages reload when a new version is served; a front
    without it (or with it, outside watch mode) is reconfigured once, with a reload.
    """
    front = current_front(engine, site)
    if front is None:
        for stale in find_containers(engine, site, Role.FRONT):
            remove_container(engine, stale)
        front = _create(engine, site, runtime_image, server, host, port, live_reload)
        return front, False, []
    if (front.labels or {}).get(Label.FRONT_LAYOUT) != LAYOUT:
        remove_container(engine, front)
        note = (
            "The preview's front was made by an earlier sitedeploy; it was replaced by one "
            "that switches without reloading (the port was closed for a moment, once)."
        )
        front = _create(engine, site, runtime_image, server, host, port, live_reload)
        return front, False, [note]
    if front_address(front) != (host, port):
        front = _replace(engine, site, front, runtime_image, server, host, port, live_reload)
        return front, False, []
    if (LIVE_RELOAD_PATH in _config_of(engine, front)) != live_reload:
        _reconfigure(engine, front, host, port, live_reload)
    _point(engine, front, server, previous=previous)
    return front, True, []


def _reconfigure(engine: Engine, front: Container, host: str, port: int, live_reload: bool) -> None:
    """Turn watch mode's live reload on or off in a running front (an nginx reload: the
    one time its idle keep-alive connections are closed)."""
    host_network = front.attrs.get("HostConfig", {}).get("NetworkMode") == "host"
    config = render_front_config(_listen(host, port, host_network), live_reload=live_reload)
    with engine.errors(f"Reconfiguring {front.name}"):
        front.put_archive(CONFIG_DIR, _archive(config))
        code, output = front.exec_run(
            ["/usr/sbin/nginx", "-e", "stderr", "-c", f"{CONFIG_DIR}/nginx.conf", "-s", "reload"]
        )
    if code != 0:
        said = output.decode("utf-8", "replace").strip() if isinstance(output, bytes) else ""
        raise PreviewFailed(f"{front.name}: nginx refused the new configuration: {said}")


def _archive(config: str, server_slot: str | None = None) -> bytes:
    """The front's configuration volume: nginx.conf (root's, read-only to nginx) and, for
    a new front, the live link to `server_slot`, in a folder nginx's user may rename in."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = config.encode()
        info = tarfile.TarInfo("nginx.conf")
        info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
        archive.addfile(info, io.BytesIO(data))
        if server_slot is not None:
            folder = tarfile.TarInfo(LIVE_DIR.rsplit("/", 1)[1])
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            folder.uid = folder.gid = USER_ID
            archive.addfile(folder)
            link = tarfile.TarInfo(f"{folder.name}/{LIVE_LINK.rsplit('/', 1)[1]}")
            link.type, link.linkname = tarfile.SYMTYPE, slot_socket(server_slot)
            link.uid = link.gid = USER_ID
            archive.addfile(link)
    return buffer.getvalue()


def _hostname(container: Container) -> str:
    return str(container.attrs.get("Config", {}).get("Hostname"))


def _wait_for_server(
    engine: Engine,
    url: str,
    server: Container,
    front: Container,
    *,
    path: str = HEALTH_PATH,
    timeout: float,
) -> None:
    """Wait until `url` + `path` is answered by `server`; raise at the deadline (or as
    soon as the front has exited: it could not listen there)."""
    checks = 0

    def answered() -> bool:
        nonlocal checks
        checks += 1
        if checks % 10 == 0:
            _raise_if_exited(engine, front, url)
        return served_by(url, path) == _hostname(server)

    wait_until(
        timeout, answered, f"{url} to answer from the new container {server.name}",
        every=0.02, error=PreviewFailed,
        hint=f"See `docker logs {server.name}` and the front's logs ({front.name}).",
    )  # fmt: skip


def _raise_if_exited(engine: Engine, front: Container, url: str) -> None:
    with engine.errors(f"Inspecting {front.name}"):
        front.reload()
    if front.status != "exited":
        return
    said = logs_tail(engine, front)
    if "Address already in use" in said or "Permission denied" in said:
        raise PortUnavailable(
            f"{url} cannot be opened: {said.splitlines()[-1]}. Stop what uses "
            "it, or choose another port with --port."
        )
    raise PreviewFailed(f"The front {front.name} exited. Its nginx said:\n{said}")


def _create(
    engine: Engine,
    site: Site,
    runtime_image: str,
    server: Container,
    host: str,
    port: int,
    live_reload: bool = False,
) -> Container:
    """Start a front on host:port proxying to `server` (the port must be free)."""
    slot = slot_of(server)
    assert slot in SLOTS, f"{server.name} has no socket slot"
    with engine.errors("Creating the front's configuration volume"):
        volume = engine.client.volumes.create(f"{site.container_name}-front", labels=site.labels)
    volumes = {str(volume.name): {"bind": CONFIG_DIR, "mode": "rw"}}
    for each in SLOTS:
        volumes[ensure_slot_volume(engine, site, each)] = {
            "bind": f"{SLOTS_DIR}/{each}",
            "mode": "rw",
        }
    host_network = on_host_network(engine, port)
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
        runtime_image,
        publish=None if host_network else (host, port),
        name=site.container_name,
        labels={
            **site.labels,
            Label.ROLE: Role.FRONT,
            Label.ADDRESS: address_label(host, port),
            Label.FRONT_LAYOUT: LAYOUT,
        },
        command=["-c", f"{CONFIG_DIR}/nginx.conf"],
        volumes=volumes,
        **options,
    )
    config = render_front_config(_listen(host, port, host_network), live_reload=live_reload)
    with engine.errors("Writing the front's configuration"):
        front.put_archive(CONFIG_DIR, _archive(config, slot))
    start(engine, front, host, port)
    _wait_for_server(engine, preview_url(host, port), server, front, timeout=START_TIMEOUT)
    return front


def _link(engine: Engine, front: Container, server: Container) -> None:
    """Point the front's live link at `server`'s socket, atomically."""
    slot = slot_of(server)
    assert slot in SLOTS, f"{server.name} has no socket slot"
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
    assert address is not None
    url = preview_url(*address)
    _link(engine, front, server)
    try:
        _wait_for_server(engine, url, server, front, path=PROBE_PATH, timeout=SWITCH_TIMEOUT)
    except PreviewFailed:
        if previous is not None and slot_of(previous) != slot_of(server):
            _link(engine, front, previous)
        raise


def _replace(
    engine: Engine,
    site: Site,
    old: Container,
    runtime_image: str,
    server: Container,
    host: str,
    port: int,
    live_reload: bool,
) -> Container:
    """Listen on a new host:port: start a new front there, then retire the old one."""
    with engine.errors(f"Renaming {old.name}"):
        old.rename(f"{site.container_name}-retiring")
    try:
        front = _create(engine, site, runtime_image, server, host, port, live_reload)
    except BaseException:
        with engine.errors(f"Renaming {old.name} back"):
            old.rename(site.container_name)
        raise
    remove_container(engine, old)
    return front
