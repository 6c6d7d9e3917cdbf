"""`sitedeploy deploy --swarm`: the published image as a Docker Swarm service.

Two services on an overlay network of their own, both pinned to image digests:

* `sitedeploy-<name>-<id>-site`: the site's nginx, N replicas, DNS round robin (no
  virtual IP, so no IPVS), hardened like the preview (UID 101, read-only root filesystem
  with a tmpfs on /tmp, every capability dropped), checked by the image's health check,
  updated one task at a time, new task first, rolled back by the swarm if it fails;
* `sitedeploy-<name>-<id>-front`: one nginx per node (the same image, another config from a
  swarm config) owning the published port in host mode and proxying to `tasks.<site>`
  with retries on the next task. The routing mesh is never needed, so this works on
  kernels without IPVS and on ordinary multi-node swarms alike.

Everything here is the swarm's own machinery (services, rolling updates, rollback); the
only thing sitedeploy adds is the front's configuration.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from docker.models.services import Service

from deployer.engine import Engine
from deployer.errors import SwarmError
from deployer.hardening import HTTPS_CONTAINER_PORT
from deployer.labels import Label
from deployer.progress import Progress
from deployer.ship.swarm_renewer import (
    SwarmAcme,
    ensure_renewer_service,
    remove_renewer_service,
    renewer_status,
    wait_for_certificates,
)
from deployer.ship.swarm_services import (
    SwarmTls,
    front_changed,
    front_spec,
    names,
    runs,
    site_spec,
)
from deployer.site import Site, page_url, site_filter
from deployer.waiting import poll, wait_until

CONVERGE_TIMEOUT = 600.0
FRONT_TIMEOUT = 120.0
_DONE = {"completed", "rollback_completed", "paused", "rollback_paused"}


@dataclass(frozen=True)
class TaskInfo:
    id: str
    state: str
    image: str
    health: str | None


@dataclass
class SwarmStatus:
    service: str
    front: str
    url: str | None
    desired: int
    running: int
    update_state: str | None
    image: str | None
    tasks: list[TaskInfo] = field(default_factory=list)
    certificate: dict[str, Any] | None = None  # the fronts' (names, issuer, expiry …)
    renewer: dict[str, Any] | None = None  # ACME: the renewers, and this node's certificate

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "front": self.front,
            "url": self.url,
            "replicas": {"desired": self.desired, "running": self.running},
            "update_state": self.update_state,
            "image": self.image,
            "tasks": [task.__dict__ for task in self.tasks],
            "tls": {"certificate": self.certificate, "renewer": self.renewer}
            if self.certificate or self.renewer
            else None,
        }


@dataclass(frozen=True)
class SwarmResult:
    image: str
    seconds: float
    update_state: str | None  # completed, rollback_completed, … (None: first deploy)
    created: bool

    @property
    def rolled_back(self) -> bool:
        return bool(self.update_state and self.update_state.startswith("rollback"))


def require_swarm(engine: Engine) -> None:
    """Refuse an engine that is not a swarm manager (or has no Swarm mode), with the fix."""
    if engine.kind.podman:
        raise SwarmError(
            f"--to swarm: {engine.kind.product} {engine.kind.version} at {engine.host} has no "
            "Swarm mode. Deploy to a Docker Engine that is a swarm manager (DOCKER_HOST), or "
            "to Kubernetes (`sitedeploy k8s`)."
        )
    with engine.errors("Asking the daemon about its swarm"):
        state = engine.client.info().get("Swarm", {}).get("LocalNodeState")
        is_manager = engine.client.info().get("Swarm", {}).get("ControlAvailable")
    if state != "active" or not is_manager:
        raise SwarmError(
            f"The Docker daemon at {engine.host} is not a swarm manager (swarm state: {state}). "
            "Run `docker swarm init` (on one machine: `docker swarm init --advertise-addr "
            "127.0.0.1`), or point DOCKER_HOST at a manager."
        )


def _ensure_network(engine: Engine, site: Site, network: str) -> None:
    with engine.errors(f"Creating overlay network {network}"):
        if not engine.client.networks.list(names=[network]):
            engine.client.networks.create(network, driver="overlay", labels=site.labels)


def _update_status(service: Service) -> dict[str, Any]:
    service.reload()
    return dict(service.attrs.get("UpdateStatus") or {})


def _update_state(service: Service) -> str | None:
    return _update_status(service).get("State")


def _running(service: Service, image: str) -> int:
    tasks = service.tasks(filters={"desired-state": "running"})
    return sum(
        1
        for task in tasks
        if task["Status"]["State"] == "running" and task["Spec"]["ContainerSpec"]["Image"] == image
    )


def _converge(
    service: Service, replicas: int, progress: Progress, *, after: str | None
) -> str | None:
    """Wait until the swarm has finished rolling (or the first deploy runs everywhere).

    `after`: the StartedAt of the update before ours, so its final state is not mistaken
    for the end of ours (None for a service just created).
    """

    # The answer is the update's final state in a 1-tuple: the state itself may be None.
    def finished() -> tuple[str | None] | None:
        status = _update_status(service)
        state = status.get("State")
        ours = state is not None and status.get("StartedAt") != after
        image = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        running = _running(service, image)
        progress.detail(
            f"update: {state if ours else 'starting'}; {running}/{replicas} tasks on {image[-19:]}"
        )
        done = (ours and state in _DONE) or (after is None and state is None)
        return (state if ours else None,) if done and running >= replicas else None

    (state,) = wait_until(
        CONVERGE_TIMEOUT, finished, f"service {service.name} to converge", every=0.5,
        error=SwarmError, hint=f"See `docker service ps {service.name}`.",
    )  # fmt: skip
    return state


def deploy_swarm(
    engine: Engine,
    site: Site,
    image: str,
    *,
    replicas: int,
    port: int,
    progress: Progress,
    tls: SwarmTls | None = None,
    acme: SwarmAcme | None = None,
) -> SwarmResult:
    """Create or update the site's swarm services so that `image` (a digest) serves on
    `port` (with `tls`, HTTPS too; with `acme`, once every node's renewer has its
    certificate: CertificateError if not in time)."""
    if "@sha256:" not in image:
        raise SwarmError(f"{image} is not pinned to a digest; publish it first.")
    require_swarm(engine)
    service_name, front_name, network = names(site)
    _ensure_network(engine, site, network)
    started = time.monotonic()
    site_service = engine.find_service(service_name)
    created = site_service is None
    state: str | None = None
    with progress.step(
        f"{'Creating' if created else 'Rolling out'} {service_name} ({replicas} replicas)"
    ):
        spec = site_spec(site, image, replicas, network)
        with engine.errors(f"Deploying {service_name}"):
            if site_service is None:
                site_service = engine.client.services.create(name=service_name, **spec)
                state = _converge(site_service, replicas, progress, after=None)
            elif not runs(site_service, image, replicas):
                before = _update_status(site_service).get("StartedAt") or ""
                site_service.update(name=service_name, **spec)
                state = _converge(site_service, replicas, progress, after=before)

    front = engine.find_service(front_name)
    with (
        progress.step(f"Publishing port {port} through {front_name}"),
        engine.errors(f"Deploying {front_name}"),
    ):
        front_config = front_spec(engine, site, image, port, network, service_name, tls)
        if front is None:
            engine.client.services.create(name=front_name, **front_config)
        elif front_changed(front, front_config):
            front.update(name=front_name, **front_config)
        _wait_for_front(engine, front_name)
    if acme is None:
        remove_renewer_service(engine, site)
    else:
        with progress.step(f"Getting a certificate for {', '.join(acme.settings.domains)}"):
            ensure_renewer_service(engine, site, acme)
            nodes = wait_for_certificates(engine, site, acme.settings)
            progress.detail(f"every node has its certificate ({nodes})")
    return SwarmResult(image, time.monotonic() - started, state, created)


def _wait_for_front(engine: Engine, front_name: str) -> None:
    service = engine.find_service(front_name)
    if service is None:
        raise SwarmError(f"The front service {front_name} went away as it was deployed.")

    def running() -> bool:
        with engine.errors(f"Listing the tasks of {front_name}"):
            tasks = service.tasks(filters={"desired-state": "running"})
        return bool(tasks) and all(task["Status"]["State"] == "running" for task in tasks)

    wait_until(
        FRONT_TIMEOUT, running, f"the front service {front_name} to start", every=0.5,
        error=SwarmError, hint=f"See `docker service ps {front_name}`.",
    )  # fmt: skip


def swarm_status(engine: Engine, site: Site) -> SwarmStatus:
    require_swarm(engine)
    service_name, front_name, _network = names(site)
    service = engine.find_service(service_name)
    if service is None:
        raise SwarmError(
            f"No swarm deploy of {site.path}: run `sitedeploy deploy {site.path} --swarm …`."
        )
    spec = service.attrs["Spec"]
    image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    tasks = []
    with engine.errors(f"Listing the tasks of {service_name}"):
        running = service.tasks(filters={"desired-state": "running"})
        update_state = _update_state(service)
    for task in running:
        container_id = task["Status"].get("ContainerStatus", {}).get("ContainerID")
        tasks.append(
            TaskInfo(
                id=task["ID"][:12],
                state=task["Status"]["State"],
                image=task["Spec"]["ContainerSpec"]["Image"],
                health=_health(engine, container_id),
            )
        )
    front = engine.find_service(front_name)
    url = None
    certificate = renewer = None
    if front is not None:
        shown = (front.attrs["Spec"].get("Labels") or {}).get(Label.CERTIFICATE)
        certificate = json.loads(shown) if shown else None
        renewer = renewer_status(engine, site, front)
        ports = front.attrs["Spec"].get("EndpointSpec", {}).get("Ports") or []
        https = [p for p in ports if p.get("TargetPort") == HTTPS_CONTAINER_PORT]
        if https:
            url = f"https://127.0.0.1:{https[0]['PublishedPort']}"
        elif ports:
            url = f"http://127.0.0.1:{ports[0]['PublishedPort']}"
    pulled = engine.find_image(image)
    if url and pulled is not None:  # the page under the site's base path, as `up` shows it
        url = page_url(url, (pulled.labels or {}).get(Label.BASEURL, ""))
    return SwarmStatus(
        service=service_name,
        front=front_name,
        url=url,
        desired=int(spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0)),
        running=sum(1 for t in tasks if t.state == "running"),
        update_state=update_state,
        image=image,
        tasks=tasks,
        certificate=certificate,
        renewer=renewer,
    )


def _health(engine: Engine, container_id: str | None) -> str | None:
    """A task's health, when its container runs on this node (the API only sees local ones)."""
    container = engine.find_container(container_id) if container_id else None
    if container is None:
        return None
    return (container.attrs.get("State", {}).get("Health") or {}).get("Status")


def rollback_swarm(engine: Engine, site: Site, progress: Progress) -> SwarmResult:
    """Return the site service to its previous spec (the previous digest), rolling."""
    require_swarm(engine)
    service_name, _front, _network = names(site)
    service = engine.find_service(service_name)
    previous = service.attrs.get("PreviousSpec") if service else None
    if service is None or not previous:
        raise SwarmError(f"{service_name} has no previous version to roll back to.")
    image = previous["TaskTemplate"]["ContainerSpec"]["Image"]
    replicas = int(previous.get("Mode", {}).get("Replicated", {}).get("Replicas", 1))
    started = time.monotonic()
    with engine.errors(f"Reading the update status of {service_name}"):
        before = _update_status(service).get("StartedAt") or ""
    with progress.step(f"Rolling {service_name} back to {image}"), engine.errors("Rolling back"):
        engine.api.update_service(
            service.id,
            service.version,
            task_template=previous["TaskTemplate"],
            name=service_name,
            labels=previous.get("Labels"),
            mode=previous.get("Mode"),
            update_config=previous.get("UpdateConfig"),
            rollback_config=previous.get("RollbackConfig"),
            networks=previous["TaskTemplate"].get("Networks"),
            endpoint_spec=previous.get("EndpointSpec"),
        )
        state = _converge(service, replicas, progress, after=before)
    return SwarmResult(image, time.monotonic() - started, state, False)


def remove_swarm(engine: Engine, site: Site) -> list[str]:
    """Remove the site's swarm services, their configs, secrets and network (each node's
    certificate volumes stay, for the next deploy)."""
    require_swarm(engine)
    removed = remove_renewer_service(engine, site)
    service_name, front_name, network = names(site)
    with engine.errors("Removing the swarm deploy"):
        for name in (front_name, service_name):
            service = engine.find_service(name)
            if service is not None:
                service.remove()
                removed.append(name)
        tasks = site_filter(site)
        # The overlay network can only go once its tasks are gone.
        poll(60, lambda: not engine.client.containers.list(filters=tasks), every=0.5)
        for config in engine.client.configs.list(filters=site_filter(site)):
            config.remove()
        for secret in engine.client.secrets.list(filters=site_filter(site)):
            secret.remove()
        for found in engine.client.networks.list(names=[network]):
            found.remove()
    return removed
