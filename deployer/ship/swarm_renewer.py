"""ACME on a swarm: the certificate renewer (docker/acme/) on every node, as a global
service `<site>-renewer` — each node gets, keeps and renews the certificate its own front
serves, with nobody running a command.

* Each node's renewer writes into that node's `<site>-tls` volume (the key and chain the
  front reads at each handshake, ACME's HTTP-01 answers), and keeps its ACME account and
  the site's key in the node's `<site>-acme` volume, which only it mounts. A new node
  gets a renewer (the service is global) and its own certificate: no certificate or key
  crosses the network, and no node depends on another to renew.
* The CA may ask any node for an answer (DNS names them all); a front that lacks it asks
  the other fronts (serve/front_config.peer_challenges).
* The renewer's health check (docker/acme/healthy.py) passes once its node has a
  certificate from these settings, so the swarm reports the task running only then:
  the deploy waits for every renewer task to run, or says why not (the renewers' own
  words). A node without a certificate serves the site over HTTP meanwhile.
* The directory's CA (when given) is a swarm config; the EAB key a swarm secret.

The renewer runs on the host's network (out to the directory only, as on a server: a
directory on the node's loopback is reached as the node reaches it).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.models.services import Service
from docker.types import (
    ConfigReference,
    Healthcheck,
    Mount,
    RestartPolicy,
    SecretReference,
    ServiceMode,
    UpdateConfig,
)

from deployer.certs import leaf_info
from deployer.digests import inputs_hash
from deployer.engine import Engine
from deployer.errors import CertificateError, SitedeployError
from deployer.image.extract import file_of
from deployer.labels import Label, Role
from deployer.serve.front_config import TLS_FILE, tls_volume
from deployer.ship.swarm_services import HARDENING, SECOND, immutable
from deployer.ship.tls import (
    RENEWER_ACME,
    RENEWER_TLS,
    RENEWER_UID,
    acme_volume,
    certificate_volume_labels,
    renewer_name,
    renewer_settings,
)
from deployer.site import Site
from deployer.tls_settings import EAB_HMAC_ENV, TlsSettings
from deployer.waiting import poll

CA_FILE = "/etc/sitedeploy/acme-ca.pem"  # the directory's CA, when given (a swarm config)
EAB_SECRET_FILE = "sitedeploy-eab-hmac"  # /run/secrets/…, as renewer.py looks for it
HEALTHY = ("python3", "-I", "/usr/local/bin/sitedeploy-renewer-healthy")
CERTIFICATE_TIMEOUT = 240.0  # seconds for every node's renewer to have its certificate


@dataclass(frozen=True)
class SwarmAcme:
    """ACME on a swarm: the renewer image (pinned in the registry) and the settings."""

    image: str
    settings: TlsSettings


def renewer_spec(engine: Engine, site: Site, acme: SwarmAcme) -> dict[str, Any]:
    told = json.dumps(renewer_settings(acme.settings))
    volumes = [
        Mount(target, source, type="volume", labels=certificate_volume_labels(site))
        for target, source in ((RENEWER_TLS, tls_volume(site)), (RENEWER_ACME, acme_volume(site)))
    ]
    configs, secrets, environment = [], [], []
    if acme.settings.acme_ca:
        config_id, config_name = immutable(
            engine, site, engine.client.configs, "config", f"{site.container_name}-acme-ca",
            Path(acme.settings.acme_ca).read_bytes(),
        )  # fmt: skip
        configs.append(ConfigReference(config_id, config_name, filename=CA_FILE, mode=0o444))
        environment.append(f"REQUESTS_CA_BUNDLE={CA_FILE}")
    hmac = os.environ.get(EAB_HMAC_ENV)
    if acme.settings.acme_eab_kid and hmac:
        secret_id, secret_name = immutable(
            engine, site, engine.client.secrets, "secret", f"{site.container_name}-acme-eab",
            hmac.encode(),
        )  # fmt: skip
        uid = str(RENEWER_UID)
        secrets.append(
            SecretReference(
                secret_id, secret_name, filename=EAB_SECRET_FILE, uid=uid, gid=uid, mode=0o400
            )
        )
    labels = {**site.labels, Label.ROLE: Role.RENEWER}
    return {
        "image": acme.image,
        "args": ["run", told],  # after the image's entrypoint (renewer.py)
        "labels": labels,
        "container_labels": labels,
        "mode": ServiceMode("global"),
        "networks": ["host"],
        "env": environment,
        **HARDENING,
        "mounts": [*HARDENING["mounts"], *volumes],
        "configs": configs,
        "secrets": secrets,
        # Healthy once the node has its certificate; until then (an hour at most) a
        # failing check is the renewer still at work, not a reason to restart it.
        "healthcheck": Healthcheck(
            test=["CMD", *HEALTHY, told],
            interval=5 * SECOND,
            timeout=5 * SECOND,
            retries=3,
            start_period=3600 * SECOND,
        ),
        "restart_policy": RestartPolicy(condition="any", delay=10 * SECOND),
        # Two renewers of one node must never write its volume at once.
        "update_config": UpdateConfig(parallelism=0, order="stop-first", failure_action="continue"),
        "stop_grace_period": 5 * SECOND,
    }


def _spec_hash(spec: dict[str, Any]) -> str:
    return inputs_hash(json.dumps(spec, sort_keys=True, default=str))[:16]


def ensure_renewer_service(engine: Engine, site: Site, acme: SwarmAcme) -> None:
    """The renewer service with these settings (updated only if they changed)."""
    spec = renewer_spec(engine, site, acme)
    wanted = _spec_hash(spec)
    spec["labels"] = {**spec["labels"], Label.RENEWER_SETTINGS: wanted}
    name = renewer_name(site)
    service = engine.find_service(name)
    with engine.errors(f"Deploying {name}"):
        if service is None:
            engine.client.services.create(name=name, **spec)
        elif (service.attrs["Spec"].get("Labels") or {}).get(Label.RENEWER_SETTINGS) != wanted:
            service.update(name=name, **spec)


def remove_renewer_service(engine: Engine, site: Site) -> list[str]:
    service = engine.find_service(renewer_name(site))
    if service is None:
        return []
    with engine.errors(f"Removing {service.name}"):
        service.remove()
    return [str(service.name)]


def _tasks(engine: Engine, service: Service) -> list[dict[str, Any]]:
    with engine.errors(f"Listing the tasks of {service.name}"):
        return list(service.tasks(filters={"desired-state": "running"}))


def _failure(engine: Engine, service: Service, since: int) -> str | None:
    """A renewer's "failed: …" line since `since` (its logs say why, in the CA's words)."""
    try:
        with engine.errors(f"Reading the logs of {service.name}"):
            chunks = service.logs(stdout=True, stderr=True, since=since, tail="40")
            text = b"".join(chunks).decode(errors="replace")
    except SitedeployError:
        return None
    failures = [line.split(" failed: ", 1)[1] for line in text.splitlines() if " failed: " in line]
    return failures[-1].strip() if failures else None


def wait_for_certificates(engine: Engine, site: Site, settings: TlsSettings) -> int:
    """Wait until every node's renewer has its certificate: the number of nodes; or
    CertificateError at a renewer's first failure (its reason), or after the timeout."""
    name = renewer_name(site)
    service = engine.find_service(name)
    if service is None:
        raise CertificateError(f"The renewer service {name} went away as it was deployed.")
    since = int(time.time()) - 1

    def fail(reason: str) -> CertificateError:
        return CertificateError(
            f"No certificate for {', '.join(settings.domains)} on every node: {reason}. The "
            "site keeps serving as it did (a node that never had a certificate serves it "
            "over HTTP), and each renewer keeps trying, waiting longer each time (an hour "
            "at most). Check that each name resolves to the swarm's nodes and that port 80 "
            "reaches their fronts, or fix [tls] in sitedeploy.toml; then deploy again. "
            f"`docker service logs {name}` shows every attempt."
        )

    def every_node() -> int | None:
        tasks = _tasks(engine, service)
        if tasks and all(task["Status"]["State"] == "running" for task in tasks):
            return len(tasks)
        failure = _failure(engine, service, since)
        if failure is not None:
            raise fail(failure)
        return None

    nodes = poll(CERTIFICATE_TIMEOUT, every_node, every=1.0)
    if nodes is None:
        raise fail(f"not every renewer had one after {CERTIFICATE_TIMEOUT:.0f} s")
    return nodes


def renewer_status(engine: Engine, site: Site, front: Service) -> dict[str, Any] | None:
    """The renewers: on how many nodes each has its certificate; and the certificate of
    this node's front (names, issuer, expiry), read from its volume."""
    service = engine.find_service(renewer_name(site))
    if service is None:
        return None
    tasks = _tasks(engine, service)
    shown: dict[str, Any] = {
        "service": service.name,
        "nodes": len(tasks),
        "with_certificate": sum(1 for task in tasks if task["Status"]["State"] == "running"),
        "certificate": None,
    }
    for task in _tasks(engine, front):
        container_id = task["Status"].get("ContainerStatus", {}).get("ContainerID")
        container = engine.find_container(container_id) if container_id else None
        if container is None:  # on another node: the API here cannot read it
            continue
        try:
            with engine.errors(f"Reading {TLS_FILE}"):
                info = leaf_info(file_of(container, TLS_FILE))
        except (SitedeployError, FileNotFoundError):
            continue
        shown["certificate"] = info.as_dict() if info else None
    return shown
