"""The connection to the Docker engine, and the one place its errors become advice.

Every docker-py call sitedeploy makes runs inside `Engine.errors(action)`, which turns
docker-py, requests and daemon failures into our own errors, each with what to do about
it. Lookups of things that may be absent (`find_image`, `find_container`, `find_service`)
return None instead of raising.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import docker.errors
import requests
from docker.models.containers import Container
from docker.models.images import Image
from docker.models.services import Service

import docker
from deployer.engine_kind import EngineKind, engine_kind
from deployer.errors import (
    ConfigError,
    DiskFull,
    EngineError,
    EngineUnavailable,
    PortUnavailable,
    SitedeployError,
)
from deployer.image_facts import ImageFacts, image_facts
from deployer.platforms import Platform, engine_platform
from deployer.site import user_cache
from deployer.tunnel import Forward, forwarding_refused

DEFAULT_HOST = "unix:///var/run/docker.sock"
_T = TypeVar("_T")
_PORT_TAKEN = ("address already in use", "port is already allocated")
# nginx (a front that could not listen): `bind() to 0.0.0.0:80 failed (13: Permission denied)`.
_BIND_FAILED = "bind() to "
NO_SPACE = "no space left on device"


def docker_host() -> str:
    """Where the engine is expected: DOCKER_HOST, or the default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def unreachable(host: str, reason: object) -> EngineUnavailable:
    if host.startswith("ssh://"):
        return EngineUnavailable(
            f"Cannot reach the Docker daemon at {host}: {reason}. Check the host name and "
            "port, that sshd runs there and `docker` answers for that user on the server."
        )
    source = "DOCKER_HOST" if os.environ.get("DOCKER_HOST") else "the default socket"
    return EngineUnavailable(
        f"Cannot reach the Docker daemon at {host} ({source}): {reason}. Start the daemon "
        "(`sudo systemctl start docker`, or `sudo dockerd &`; on a fresh Debian machine "
        "`scripts/setup` installs and starts it), or point DOCKER_HOST at a running daemon."
    )


def out_of_space(action: str) -> DiskFull:
    return DiskFull(
        f"{action}: the Docker daemon ran out of disk space. Free space (`docker system "
        "prune` removes unused images and build cache), then run again."
    )


def refusal(action: str, host: str, explanation: str) -> SitedeployError:
    """What the daemon's refusal of `action` means, with the fix where we know one."""
    lowered = explanation.lower()
    if any(needle in lowered for needle in _PORT_TAKEN):
        return PortUnavailable(
            f"{action}: the port is already in use ({explanation}). Stop what uses it, or "
            "choose another port with --port (or [preview] port in sitedeploy.toml)."
        )
    if _BIND_FAILED in lowered:
        return PortUnavailable(
            f"{action}: the port cannot be opened ({explanation}). Stop what uses it, or "
            "choose another port with --port (or [preview] port in sitedeploy.toml)."
        )
    if NO_SPACE in lowered:
        return out_of_space(action)
    return EngineError(f"{action}: the Docker daemon at {host} refused: {explanation}")


@dataclass(frozen=True)
class ImageInfo:
    """A local image: the tag asked for, its id on this engine, its config's digest (the
    same on every image store: what content hashes name), its size (the bytes of its
    files, `image_facts`) and layer count."""

    tag: str
    id: str
    config_digest: str
    size: int
    layers: int


@dataclass(frozen=True)
class Layer:
    """One entry of an image's history, as `docker history --no-trunc` shows it."""

    created_by: str
    size: int


@dataclass
class Engine:
    """A connected Docker client and the address it talks to."""

    client: docker.DockerClient
    host: str
    _forwards: dict[tuple[str, int], Forward] = field(default_factory=dict, repr=False)
    _reading: dict[str, Future[ImageFacts]] = field(default_factory=dict, repr=False)

    @property
    def api(self) -> docker.APIClient:
        return self.client.api

    @functools.cached_property
    def kind(self) -> EngineKind:
        """What this engine is (asked once): its product and version, CPU, image store,
        and whether it can build with BuildKit."""
        with self.errors("Asking the engine what it is"):
            version: dict[str, Any] = self.client.version()
            info: dict[str, Any] = self.client.info()
        return engine_kind(version, info)

    @property
    def platform(self) -> Platform:
        """The CPU this engine builds and runs images for."""
        return engine_platform(self.kind.arch)

    @property
    def is_local(self) -> bool:
        """True when the daemon runs on this machine (its published ports are ours)."""
        return self.host.startswith("unix://")

    @property
    def over_ssh(self) -> bool:
        """True for an engine on another machine, reached over SSH (`ssh://user@host`)."""
        return self.host.startswith("ssh://")

    def reach(self, url: str) -> str:
        """`url` as the engine's machine sees it (its 127.0.0.1, or an address its
        containers publish on), as a URL this machine can open: itself on a local engine;
        through the SSH connection (a local port of ours) on an ssh:// engine."""
        if not self.over_ssh:
            return url
        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        target = ("127.0.0.1" if host in {"0.0.0.0", "::", "localhost"} else host, parts.port or 80)
        if target not in self._forwards:
            adapter = self.api.get_adapter("http+docker://ssh")
            transport = adapter.ssh_client.get_transport()  # type: ignore[attr-defined]
            if transport is None or not transport.is_active():
                raise unreachable(self.host, "the SSH connection closed")
            if forwarding_refused(transport, target):
                raise EngineUnavailable(
                    f"{self.host} does not let us forward a port over SSH, which sitedeploy "
                    "needs to check a new version before the switch. Allow it for this user in "
                    "the server's /etc/ssh/sshd_config (`AllowTcpForwarding local`), reload "
                    "sshd, then run again."
                )
            self._forwards[target] = Forward(transport, target)
        local = f"127.0.0.1:{self._forwards[target].port}"
        return urlunsplit((parts.scheme, local, parts.path, parts.query, parts.fragment))

    def close(self) -> None:
        """Close the forwards `reach` opened and the client's connections."""
        for forward in self._forwards.values():
            forward.close()
        self._forwards.clear()
        self.client.close()

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn docker-py and connection errors raised while doing `action` into advice."""
        try:
            yield
        except docker.errors.NotFound as error:
            raise EngineError(f"{action}: {error.explanation or error}") from error
        except docker.errors.ImageLoadError as error:
            raise EngineError(f"{action}: the daemon could not load it: {error}") from error
        except docker.errors.APIError as error:
            raise refusal(action, self.host, str(error.explanation or error)) from error
        except requests.Timeout as error:
            raise EngineError(
                f"{action}: the Docker daemon at {self.host} did not answer in time ({error})."
            ) from error
        except (requests.ConnectionError, docker.errors.DockerException) as error:
            raise unreachable(self.host, reason(error)) from error

    def separate_api(self, timeout: int) -> docker.APIClient:
        """A client on a connection of its own: closing it cancels what it streams."""
        with self.errors("Connecting to the Docker daemon"):
            return docker.from_env(timeout=timeout).api

    # -- lookups of things that may be absent --------------------------------------

    def _found(self, what: str, get: Callable[[], _T]) -> _T | None:
        with self.errors(f"Looking up {what}"):
            try:
                return get()
            except docker.errors.NotFound:  # ImageNotFound too
                return None

    def find_image(self, reference: str) -> Image | None:
        return self._found(f"image {reference}", lambda: self.client.images.get(reference))

    def find_container(self, name: str) -> Container | None:
        return self._found(f"container {name}", lambda: self.client.containers.get(name))

    def find_service(self, name: str) -> Service | None:
        def get() -> Service:
            service: Service = self.client.services.get(name)  # type: ignore[no-untyped-call]
            return service

        return self._found(f"service {name}", get)

    def facts(self, image: Image) -> ImageFacts | None:
        """The image as Docker's classic store describes it, read from its layers where
        this engine's own answers differ (its store, `kind.classic_store`); else None."""
        if self.kind.classic_store:
            return None
        image_id = str(image.id)
        with self.errors(f"Reading the layers of image {image_id[:19]}"):
            reading = self._reading.pop(image_id, None)
            if reading is not None:
                return reading.result()
            return image_facts(image_id, lambda: self.api.get_image(image_id), facts_cache())

    def read_soon(self, reference: str) -> None:
        """Start reading an image's layers (where `facts` would) beside what comes next, on
        a connection of its own; `facts` then finds them read, or waits for the rest."""
        image = self.find_image(reference) if not self.kind.classic_store else None
        if image is None or str(image.id) in self._reading:
            return
        image_id, api = str(image.id), self.separate_api(timeout=600)

        def read() -> ImageFacts:
            try:
                return image_facts(image_id, lambda: api.get_image(image_id), facts_cache())
            finally:
                api.close()

        pool = ThreadPoolExecutor(max_workers=1)
        self._reading[image_id] = pool.submit(read)
        pool.shutdown(wait=False)  # the thread ends with the read

    def config_digest(self, image: Image) -> str:
        """The digest of the image's config: its id on the classic store and Podman; the
        containerd store says it beside the manifest it names the image by."""
        if not self.kind.containerd_store:
            return str(image.id)
        annotations = (image.attrs.get("Descriptor") or {}).get("annotations") or {}
        facts = None if "config.digest" in annotations else self.facts(image)
        return facts.config_digest if facts else str(annotations["config.digest"])

    def image_info(self, tag: str) -> ImageInfo | None:
        """Size and layer count of a local image, or None if there is no such image."""
        image = self.find_image(tag)
        if image is None:
            return None
        layers = image.attrs.get("RootFS", {}).get("Layers") or []
        facts = self.facts(image)
        return ImageInfo(
            tag=tag, id=str(image.id),
            config_digest=facts.config_digest if facts else self.config_digest(image),
            size=facts.size if facts else int(image.attrs.get("Size", 0)), layers=len(layers),
        )  # fmt: skip

    def built(self, tag: str) -> ImageInfo:
        """`image_info` of an image we just built or found (raises if it went meanwhile)."""
        info = self.image_info(tag)
        if info is None:
            raise EngineError(
                f"The image {tag} is gone from the daemon at {self.host} (removed while we "
                "worked?); run the command again."
            )
        return info

    def history(self, reference: str) -> list[Layer]:
        """The image's history, oldest first, each layer's size counted as `image_info`'s."""
        image = None if self.kind.classic_store else self.find_image(reference)
        facts = self.facts(image) if image is not None else None
        if facts is not None:
            return [Layer(created_by, size) for created_by, size in facts.history_sizes()]
        with self.errors(f"Reading the history of {reference}"):
            entries: list[dict[str, Any]] = self.api.history(reference)  # type: ignore[no-untyped-call]
        return [
            Layer(created_by=str(entry.get("CreatedBy") or ""), size=int(entry.get("Size") or 0))
            for entry in reversed(entries)
        ]


def facts_cache() -> Path:
    """Where image facts are remembered (asked when used: XDG_CACHE_HOME may change)."""
    return user_cache() / "image-facts.json"


def reason(error: BaseException) -> str:
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


def engine_address(name: str) -> str:
    """The address of an engine named as the Docker CLI names one: an address
    (ssh://user@host[:port], tcp://…, unix://…) or a `docker context` name."""
    if "://" in name:
        return name
    from docker.context import ContextAPI

    context = ContextAPI.get_context(name)
    if context is None or not context.Host:
        raise ConfigError(
            f"No docker context is named {name!r} (`docker context ls` lists them). Name the "
            "server as ssh://user@host[:port] instead, or create the context first."
        )
    return str(context.Host)


def connect(name: str | None = None) -> Engine:
    """Connect to the engine `name` names (an address or a docker context), else the one
    the environment names (DOCKER_HOST etc.), and ping it."""
    host = engine_address(name) if name else docker_host()
    try:
        if name:
            client = docker.DockerClient(base_url=host, timeout=300, use_ssh_client=False)
        else:
            client = docker.from_env(timeout=300, use_ssh_client=False)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as error:
        raise unreachable(host, reason(error)) from error
    except Exception as error:  # paramiko's, for an ssh:// engine
        if host.startswith("ssh://"):
            raise ssh_refusal(host, error) from error
        raise
    return Engine(client=client, host=host)


def engine_here() -> Engine | None:
    """This machine's own engine (the default socket, whatever DOCKER_HOST says), if one
    answers."""
    try:
        client = docker.DockerClient(base_url=DEFAULT_HOST, timeout=300)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError):
        return None
    return Engine(client=client, host=DEFAULT_HOST)


def ssh_refusal(host: str, error: Exception) -> EngineUnavailable:
    """What an SSH failure to reach `host` means, with the fix."""
    kind = type(error).__name__
    said = str(error) or kind
    if kind == "AuthenticationException":
        return EngineUnavailable(
            f"{host} refused our SSH key ({said}). Add your public key to the server's "
            "~/.ssh/authorized_keys (`ssh-copy-id`), or name the key for that host in "
            "~/.ssh/config (IdentityFile), then run again."
        )
    if "known_hosts" in said:
        return EngineUnavailable(
            f"{host}: the server's SSH host key is not in ~/.ssh/known_hosts. Connect once "
            "with `ssh` to check and accept it, then run again."
        )
    return EngineUnavailable(f"Cannot reach {host} over SSH: {said} ({kind}).")
