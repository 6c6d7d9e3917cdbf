"""The front: the container that owns the user's port, so redeploys never drop it.

Everything about the front is here: which server it answers from now (`serving_now`), the
decision to create, move or re-point it (`route`), its configuration (docker/front.conf.in
and docker/front-upstream.conf.in) and the switch.

It is nginx from the runtime image with its own configuration in a small volume. To move
the port to a new server, sitedeploy rewrites `upstream.conf` in that volume and reloads
nginx: it starts new workers with the new upstream while the old workers finish the
requests they have. sitedeploy then asks the port which container answers (the site's
nginx names itself in `X-Served-By`) and only returns once it is the new one.
"""

from __future__ import annotations

import io
import tarfile
import time
from string import Template

from docker.models.containers import Container

from deployer import __version__
from deployer.engine import Engine
from deployer.errors import PreviewFailed
from deployer.hardening import CONTAINER_PORT
from deployer.labels import Label, Role
from deployer.resources import docker_dir
from deployer.serve.preview import (
    bindings,
    create_hardened,
    current_server,
    ensure_network,
    find_containers,
    preview_url,
    remove_container,
    served_by,
    start,
)
from deployer.site import Site

CONFIG_DIR = "/etc/sitedeploy/front"
SWITCH_TIMEOUT = 15.0
WORKERS_EXIT_TIMEOUT = 30.0


def _render(template: str, **values: object) -> str:
    text = (docker_dir() / template).read_text(encoding="utf-8")
    return Template(text).substitute(version=__version__, **values)


def render_front_config() -> str:
    return _render("front.conf.in", port=CONTAINER_PORT)


def render_upstream(server: Container) -> str:
    return _render("front-upstream.conf.in", server=server.name, port=CONTAINER_PORT)


def current_front(engine: Engine, site: Site) -> Container | None:
    fronts = [c for c in find_containers(engine, site, Role.FRONT) if c.status == "running"]
    return fronts[0] if fronts else None


def serving_now(engine: Engine, site: Site, host: str, port: int) -> Container | None:
    """The server the site's front on host:port answers from now (None: no front there)."""
    front = current_front(engine, site)
    if front is None or bindings(front) != [(host, port)]:
        return None
    return current_server(engine, site, preview_url(host, port))


def route(
    engine: Engine,
    site: Site,
    server: Container,
    *,
    previous: Container | None,
    runtime_image: str,
    host: str,
    port: int,
) -> tuple[Container, bool]:
    """Make the front on host:port proxy to `server`: create, move or re-point it.

    Returns the front and whether it was switched in place (the port answered throughout).
    `previous` is the server it answers from now, put back if the switch does not take.
    """
    front = current_front(engine, site)
    if front is None:
        for stale in find_containers(engine, site, Role.FRONT):
            remove_container(engine, stale)
        return _create(engine, site, runtime_image, server, host, port), False
    if bindings(front) != [(host, port)]:
        return _replace(engine, site, front, runtime_image, server, host, port), False
    _point(engine, front, server, previous=previous)
    return front, True


def _archive(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _hostname(container: Container) -> str:
    return str(container.attrs.get("Config", {}).get("Hostname"))


def _wait_for_server(url: str, server: Container, timeout: float = SWITCH_TIMEOUT) -> None:
    """Wait until `url` is answered by `server`; raise PreviewFailed at the deadline."""
    deadline = time.monotonic() + timeout
    expected = _hostname(server)
    while time.monotonic() < deadline:
        if served_by(url) == expected:
            return
        time.sleep(0.05)
    raise PreviewFailed(
        f"{url} is still not answered by the new container {server.name} after "
        f"{timeout:.0f} s; see `docker logs {server.name}` and the front's logs."
    )


def _create(
    engine: Engine, site: Site, runtime_image: str, server: Container, host: str, port: int
) -> Container:
    """Start a front on host:port proxying to `server` (the port must be free)."""
    network = ensure_network(engine, site)
    with engine.errors("Creating the front's configuration volume"):
        volume = engine.client.volumes.create(f"{site.container_name}-front", labels=site.labels)
    front = create_hardened(
        engine,
        runtime_image,
        host=host,
        port=port,
        name=site.container_name,
        labels={**site.labels, Label.ROLE: Role.FRONT},
        network=network,
        command=["-c", f"{CONFIG_DIR}/nginx.conf"],
        volumes={volume.name: {"bind": CONFIG_DIR, "mode": "rw"}},
    )
    files = {"nginx.conf": render_front_config(), "upstream.conf": render_upstream(server)}
    with engine.errors("Writing the front's configuration"):
        front.put_archive(CONFIG_DIR, _archive(files))
    start(engine, front, host, port)
    _wait_for_server(preview_url(host, port), server)
    return front


def _reload(engine: Engine, front: Container, server: Container) -> None:
    """Point the front's upstream at `server` and make nginx re-read its configuration
    (graceful: old workers finish their requests).

    Through `nginx -s reload` inside the container, not `docker kill -s HUP`: Docker marks
    a container it sent any signal to as stopped by the user, and then does not restart it
    after a daemon restart.
    """
    with engine.errors(f"Switching {front.name} to {server.name}"):
        front.put_archive(CONFIG_DIR, _archive({"upstream.conf": render_upstream(server)}))
        code, output = front.exec_run(
            ["/usr/sbin/nginx", "-e", "stderr", "-c", f"{CONFIG_DIR}/nginx.conf", "-s", "reload"]
        )
    if code != 0:
        said = output.decode("utf-8", "replace").strip() if isinstance(output, bytes) else ""
        raise PreviewFailed(f"{front.name}: nginx refused the new configuration: {said}")


def _worker_pids(engine: Engine, front: Container) -> set[str]:
    """The front's nginx worker processes (docker top works without a shell)."""
    with engine.errors(f"Listing {front.name}'s processes"):
        processes = front.top(ps_args="-eo pid,args").get("Processes") or []
    return {str(row[0]) for row in processes if "worker process" in str(row[1])}


def _point(engine: Engine, front: Container, server: Container, previous: Container | None) -> None:
    """Move the front to `server`; if it does not take, put `previous` back and raise.

    Returns once the port is answered by `server` and every nginx worker of the old
    configuration has exited (they finish their requests first), so none of them can
    still send a request to the previous server when the caller retires it.
    """
    url = preview_url(*bindings(front)[0])
    old_workers = _worker_pids(engine, front)
    _reload(engine, front, server)
    try:
        _wait_for_server(url, server)
    except PreviewFailed:
        if previous is not None:
            _reload(engine, front, previous)
        raise
    deadline = time.monotonic() + WORKERS_EXIT_TIMEOUT
    while old_workers & _worker_pids(engine, front):
        if time.monotonic() > deadline:
            raise PreviewFailed(
                f"{front.name}: nginx workers of the previous configuration did not exit "
                f"within {WORKERS_EXIT_TIMEOUT:.0f} s. See `docker logs {front.name}`."
            )
        time.sleep(0.05)


def _replace(
    engine: Engine,
    site: Site,
    old: Container,
    runtime_image: str,
    server: Container,
    host: str,
    port: int,
) -> Container:
    """Publish on a new host:port: start a new front there, then retire the old one."""
    with engine.errors(f"Renaming {old.name}"):
        old.rename(f"{site.container_name}-retiring")
    try:
        front = _create(engine, site, runtime_image, server, host, port)
    except BaseException:
        with engine.errors(f"Renaming {old.name} back"):
            old.rename(site.container_name)
        raise
    remove_container(engine, old)
    return front
