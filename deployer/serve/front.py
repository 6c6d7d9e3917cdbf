"""The front: the container that owns the user's port, so redeploys never drop it.

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
from deployer.resources import docker_dir
from deployer.serve.preview import (
    FRONT_ROLE,
    bindings,
    create_hardened,
    ensure_network,
    find_containers,
    preview_url,
    remove_container,
    served_by,
    start,
)
from deployer.site import ROLE_LABEL, Site

CONFIG_DIR = "/etc/sitedeploy/front"
SWITCH_TIMEOUT = 15.0


def render_front_config() -> str:
    return Template((docker_dir() / "front.conf.in").read_text()).substitute(version=__version__)


def render_upstream(server: Container) -> str:
    return (
        f"# Written by sitedeploy: the site container the front proxies to.\n"
        f"upstream site {{\n    server {server.name}:8080;\n    keepalive 32;\n}}\n"
    )


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


def _volume_name(site: Site) -> str:
    return f"{site.container_name}-front"


def hostname(container: Container) -> str:
    return str(container.attrs.get("Config", {}).get("Hostname"))


def wait_for_server(url: str, server: Container, timeout: float = SWITCH_TIMEOUT) -> None:
    """Wait until `url` is answered by `server`; raise PreviewFailed at the deadline."""
    deadline = time.monotonic() + timeout
    expected = hostname(server)
    while time.monotonic() < deadline:
        if served_by(url) == expected:
            return
        time.sleep(0.05)
    raise PreviewFailed(
        f"{url} is still not answered by the new container {server.name} after "
        f"{timeout:.0f} s; see `docker logs {server.name}` and the front's logs."
    )


def current_front(engine: Engine, site: Site) -> Container | None:
    fronts = [c for c in find_containers(engine, site, FRONT_ROLE) if c.status == "running"]
    return fronts[0] if fronts else None


def create_front(
    engine: Engine, site: Site, runtime_image: str, server: Container, host: str, port: int
) -> Container:
    """Start a front on host:port proxying to `server` (the port must be free)."""
    network = ensure_network(engine, site)
    with engine.errors("Creating the front's configuration volume"):
        volume = engine.client.volumes.create(_volume_name(site), labels=site.labels)
    front = create_hardened(
        engine,
        runtime_image,
        host=host,
        port=port,
        name=site.container_name,
        labels={**site.labels, ROLE_LABEL: FRONT_ROLE},
        network=network,
        command=["-c", f"{CONFIG_DIR}/nginx.conf"],
        volumes={volume.name: {"bind": CONFIG_DIR, "mode": "rw"}},
    )
    with engine.errors("Writing the front's configuration"):
        front.put_archive(
            CONFIG_DIR,
            _archive(
                {"nginx.conf": render_front_config(), "upstream.conf": render_upstream(server)}
            ),
        )
    start(engine, front, host, port)
    wait_for_server(preview_url(host, port), server)
    return front


def _reload(front: Container) -> None:
    """Make the front's nginx re-read its configuration (graceful: old workers finish).

    Through `nginx -s reload` inside the container, not `docker kill -s HUP`: Docker marks
    a container it sent any signal to as stopped by the user, and then does not restart it
    after a daemon restart.
    """
    code, output = front.exec_run(
        ["/usr/sbin/nginx", "-e", "stderr", "-c", f"{CONFIG_DIR}/nginx.conf", "-s", "reload"]
    )
    if code != 0:
        said = output.decode("utf-8", "replace").strip() if isinstance(output, bytes) else ""
        raise PreviewFailed(f"{front.name}: nginx refused the new configuration: {said}")


def _worker_pids(front: Container) -> set[str]:
    """The front's nginx worker processes (docker top works without a shell)."""
    processes = front.top(ps_args="-eo pid,args").get("Processes") or []
    return {str(row[0]) for row in processes if "worker process" in str(row[1])}


def _wait_for_exit(front: Container, workers: set[str], timeout: float = 30.0) -> bool:
    """Wait until the given workers have exited: they finish their requests first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not workers & _worker_pids(front):
            return True
        time.sleep(0.05)
    return False


def point_front(
    engine: Engine, front: Container, server: Container, previous: Container | None
) -> None:
    """Move the front to `server`; if it does not take, put `previous` back and raise.

    Returns once the port is answered by `server` and every nginx worker of the old
    configuration has exited, so none of them can still send a request to the previous
    server when the caller retires it.
    """
    url = preview_url(*bindings(front)[0])
    with engine.errors(f"Switching {front.name} to {server.name}"):
        old_workers = _worker_pids(front)
        front.put_archive(CONFIG_DIR, _archive({"upstream.conf": render_upstream(server)}))
        _reload(front)
    try:
        wait_for_server(url, server)
    except PreviewFailed:
        if previous is not None:
            with engine.errors(f"Switching {front.name} back to {previous.name}"):
                front.put_archive(
                    CONFIG_DIR, _archive({"upstream.conf": render_upstream(previous)})
                )
                _reload(front)
        raise
    with engine.errors(f"Waiting for {front.name}'s old workers"):
        if not _wait_for_exit(front, old_workers):
            raise PreviewFailed(
                f"{front.name}: nginx workers of the previous configuration did not exit "
                f"within 30 s. See `docker logs {front.name}`."
            )


def replace_front(
    engine: Engine,
    site: Site,
    old: Container,
    runtime_image: str,
    server: Container,
    host: str,
    port: int,
) -> Container:
    """Publish on a new host:port: start a new front there, then retire the old one."""
    old.rename(f"{site.container_name}-retiring")
    try:
        front = create_front(engine, site, runtime_image, server, host, port)
    except BaseException:
        old.rename(site.container_name)
        raise
    remove_container(old)
    return front
