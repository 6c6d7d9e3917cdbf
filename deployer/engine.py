"""The connection to the Docker engine, and the one place its errors become advice."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import docker.errors
import requests

import docker
from deployer.errors import EngineError, EngineUnavailable

DEFAULT_HOST = "unix:///var/run/docker.sock"


def docker_host() -> str:
    """Where the engine is expected: DOCKER_HOST, or the default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def _unreachable(host: str, reason: object) -> EngineUnavailable:
    source = "DOCKER_HOST" if os.environ.get("DOCKER_HOST") else "the default socket"
    return EngineUnavailable(
        f"Cannot reach the Docker daemon at {host} ({source}): {reason}. Start the daemon "
        "(`sudo systemctl start docker`, or `sudo dockerd &`; on a fresh Debian machine "
        "`scripts/setup` installs and starts it), or point DOCKER_HOST at a running daemon."
    )


@dataclass
class Engine:
    """A connected Docker client and the address it talks to."""

    client: docker.DockerClient
    host: str

    @property
    def api(self) -> docker.APIClient:
        return self.client.api

    @property
    def is_local(self) -> bool:
        """True when the daemon runs on this machine (its published ports are ours)."""
        return self.host.startswith("unix://")

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn docker-py and connection errors raised while doing `action` into advice."""
        try:
            yield
        except docker.errors.NotFound as error:
            raise EngineError(f"{action}: {error.explanation or error}") from error
        except docker.errors.APIError as error:
            raise EngineError(
                f"{action}: the Docker daemon at {self.host} refused: {error.explanation or error}"
            ) from error
        except (requests.ConnectionError, docker.errors.DockerException) as error:
            raise _unreachable(self.host, error) from error


def _reason(error: BaseException) -> str:
    """The root cause of a connection failure, in words a user can act on."""
    root: BaseException = error
    seen = {id(root)}
    while True:
        nested = root.__cause__ or root.__context__
        nested = nested or next((a for a in root.args if isinstance(a, BaseException)), None)
        if nested is None or id(nested) in seen:
            break
        seen.add(id(nested))
        root = nested
    if isinstance(root, FileNotFoundError):
        return "no such socket"
    if isinstance(root, ConnectionRefusedError):
        return "connection refused"
    if isinstance(root, PermissionError):
        return "permission denied (run as root, or add your user to the docker group)"
    return str(root) or type(root).__name__


def connect() -> Engine:
    """Connect to the engine named by the environment (DOCKER_HOST etc.) and ping it."""
    host = docker_host()
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise _unreachable(host, _reason(error)) from error
    return Engine(client=client, host=host)
