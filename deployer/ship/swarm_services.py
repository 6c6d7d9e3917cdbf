"""The two swarm services of a site deploy, as specs for the swarm API.

* the site: N replicas of the site image, DNS round robin (no virtual IP, so no IPVS),
  hardened like the preview, health-checked, updated one task at a time (new task
  first) and rolled back by the swarm itself when an update fails;
* the front: one nginx per node owning the published port in host mode, its
  configuration (docker/swarm-front.conf.in) from a swarm config.
"""

from __future__ import annotations

import hashlib
from string import Template
from typing import Any, cast

from docker.models.services import Service
from docker.types import (
    ConfigReference,
    EndpointSpec,
    Healthcheck,
    Mount,
    RestartPolicy,
    RollbackConfig,
    ServiceMode,
    UpdateConfig,
)

from deployer import __version__
from deployer.engine import Engine
from deployer.hardening import CAP_DROP, CONTAINER_PORT, HEALTHCHECK, TMP_BYTES, TMP_PATH, USER_ID
from deployer.labels import Label, Role
from deployer.resources import docker_dir
from deployer.site import Site

SECOND = 1_000_000_000  # the swarm API counts in nanoseconds


FRONT_CONFIG_PATH = "/etc/sitedeploy/front/nginx.conf"


# What the preview's hardening is in a swarm service's words. Engine 20.10 cannot set
# no-new-privileges on a service (the ContainerSpec field arrives with API 1.44).
_HARDENING: dict[str, Any] = {
    "read_only": True,
    "cap_drop": list(CAP_DROP),
    "mounts": [Mount(target=TMP_PATH, source="", type="tmpfs", tmpfs_size=TMP_BYTES)],
}


def names(site: Site) -> tuple[str, str, str]:
    """(site service, front service, overlay network)."""
    base = site.container_name
    return f"{base}-site", f"{base}-front", f"{base}-swarm"


def site_spec(site: Site, image: str, replicas: int, network: str) -> dict[str, Any]:
    return {
        "image": image,
        "labels": {**site.labels, Label.ROLE: Role.SWARM_SITE},
        "container_labels": {**site.labels, Label.ROLE: Role.SWARM_SITE},
        "mode": ServiceMode("replicated", replicas=replicas),
        "networks": [network],
        "endpoint_spec": EndpointSpec(mode="dnsrr"),
        **_HARDENING,
        "healthcheck": Healthcheck(
            test=["CMD", *HEALTHCHECK],
            interval=2 * SECOND,
            timeout=2 * SECOND,
            retries=3,
            start_period=2 * SECOND,
        ),
        "restart_policy": RestartPolicy(condition="any", delay=SECOND),
        "update_config": UpdateConfig(
            parallelism=1,
            delay=SECOND,
            order="start-first",
            failure_action="rollback",
            monitor=8 * SECOND,
            max_failure_ratio=0.0,
        ),
        "rollback_config": RollbackConfig(
            parallelism=1, order="start-first", failure_action="pause", monitor=8 * SECOND
        ),
        "stop_grace_period": 10 * SECOND,
    }


def front_config(engine: Engine, site: Site, service: str) -> tuple[str, str]:
    """The front's nginx.conf as a swarm config (configs are immutable: one per text)."""
    text = Template((docker_dir() / "swarm-front.conf.in").read_text()).substitute(
        version=__version__, service=service, port=CONTAINER_PORT
    )
    name = f"{site.container_name}-front-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
    with engine.errors(f"Creating swarm config {name}"):
        found = engine.client.configs.list(filters={"name": name})
        config = (
            found[0]
            if found
            else engine.client.configs.create(name=name, data=text.encode(), labels=site.labels)
        )
    return str(config.id), name


def front_spec(
    engine: Engine, site: Site, image: str, port: int, network: str, service: str
) -> dict[str, Any]:
    config_id, config_name = front_config(engine, site, service)
    return {
        "image": image,
        "command": [
            "/usr/sbin/nginx",
            "-e",
            "stderr",
            "-g",
            "daemon off;",
            "-c",
            FRONT_CONFIG_PATH,
        ],
        "labels": {**site.labels, Label.ROLE: Role.SWARM_FRONT},
        "container_labels": {**site.labels, Label.ROLE: Role.SWARM_FRONT},
        "mode": ServiceMode("global"),
        "networks": [network],
        # {published: (target, protocol, mode)}; the stubs only know the string forms.
        "endpoint_spec": EndpointSpec(
            mode="dnsrr", ports=cast(Any, {port: (CONTAINER_PORT, "tcp", "host")})
        ),
        "configs": [
            ConfigReference(
                config_id,
                config_name,
                filename=FRONT_CONFIG_PATH,
                uid=str(USER_ID),
                gid=str(USER_ID),
                mode=0o444,
            )
        ],
        **_HARDENING,
        "restart_policy": RestartPolicy(condition="any", delay=SECOND),
    }


def runs(service: Service, image: str, replicas: int) -> bool:
    """True if the service already runs `image` with `replicas` tasks (nothing to roll)."""
    spec = service.attrs["Spec"]
    current = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    wanted = int(spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0))
    return current == image and wanted == replicas


def front_changed(front: Service, port: int, spec: dict[str, Any]) -> bool:
    current = front.attrs["Spec"]
    ports = current.get("EndpointSpec", {}).get("Ports") or []
    configs = current["TaskTemplate"]["ContainerSpec"].get("Configs") or []
    wanted_config = spec["configs"][0]["ConfigName"]
    return [p.get("PublishedPort") for p in ports] != [port] or [
        c.get("ConfigName") for c in configs
    ] != [wanted_config]
