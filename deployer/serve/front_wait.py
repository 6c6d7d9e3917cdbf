"""Waiting for a front to answer from a given server (after starting it, after a switch),
and saying why it could not: an exited front's nginx could not listen there.
"""

from __future__ import annotations

from docker.models.containers import Container

from deployer.engine import Engine, refusal
from deployer.errors import PortUnavailable, PreviewFailed
from deployer.hardening import HEALTH_PATH
from deployer.serve.preview import logs_tail, served_by
from deployer.waiting import wait_until


def _hostname(container: Container) -> str:
    return str(container.attrs.get("Config", {}).get("Hostname"))


def wait_for_server(
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
    reached = engine.reach(url)

    def answered() -> bool:
        nonlocal checks
        checks += 1
        if checks % 10 == 0:
            _raise_if_exited(engine, front, url)
        return served_by(reached, path) == _hostname(server)

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
    failure = refusal(f"Opening {url}", engine.host, said.splitlines()[-1] if said else "")
    if isinstance(failure, PortUnavailable):
        raise failure
    raise PreviewFailed(f"The front {front.name} exited. Its nginx said:\n{said}")
