"""The two swarm services of a site deploy, as specs for the swarm API.

* the site: N replicas of the site image, DNS round robin (no virtual IP, so no IPVS),
  hardened like the preview, health-checked, updated one task at a time (new task
  first) and rolled back by the swarm itself when an update fails;
* the front: one nginx per node owning the published port in host mode, its
  configuration (docker/swarm-front.conf.in) from a swarm config; with HTTPS, the
  HTTPS port too, and the certificate a deploy gave as a swarm secret.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
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
    SecretReference,
    ServiceMode,
    UpdateConfig,
)

from deployer import __version__
from deployer.certs import GivenPair
from deployer.engine import Engine
from deployer.hardening import (
    CAP_DROP,
    CONTAINER_PORT,
    HEALTHCHECK,
    HTTPS_CONTAINER_PORT,
    TMP_BYTES,
    TMP_PATH,
    USER_ID,
)
from deployer.labels import Label, Role
from deployer.resources import docker_dir
from deployer.serve.front_config import (
    TLS_DIR,
    TLS_FILE,
    FrontTls,
    peer_challenges,
    tls_servers,
    tls_settings,
    tls_volume,
)
from deployer.ship.tls import certificate_volume_labels
from deployer.site import Site

SECOND = 1_000_000_000  # the swarm API counts in nanoseconds


FRONT_CONFIG_PATH = "/etc/sitedeploy/front/nginx.conf"
TLS_SECRET_FILE = "sitedeploy-tls.pem"  # the key, then the chain: /run/secrets/…
_SITE_PROXY = """
            set $site_tasks "tasks.SERVICE";
            proxy_pass http://$site_tasks:PORT;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_redirect off;
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout http_502 http_503 http_504;
            proxy_next_upstream_tries 6;
            proxy_max_temp_file_size 0;"""


@dataclass(frozen=True)
class SwarmTls:
    """HTTPS at a swarm's fronts: the front's settings, and the certificate given — or
    None: each node's renewer gets one over ACME into the node's certificate volume
    (ship/swarm_renewer.py)."""

    front: FrontTls
    given: GivenPair | None  # a swarm secret: never in a config or a label


# What the preview's hardening is in a swarm service's words. Engine 20.10 cannot set
# no-new-privileges on a service (the ContainerSpec field arrives with API 1.44).
HARDENING: dict[str, Any] = {
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
        **HARDENING,
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


def render_swarm_front(service: str, tls: FrontTls | None, *, acme_peers: str | None = None) -> str:
    """The swarm front's nginx.conf: HTTP, or with `tls` HTTPS and a 301 on HTTP — with
    the certificate a deploy gave (a secret), or with `acme_peers` (the fronts' service)
    the one the node's renewer got: ACME's answers come from the node's volume or, for a
    renewer on another node, from the other fronts; until the node has a certificate, its
    HTTP port serves the site."""
    proxy = _SITE_PROXY.replace("SERVICE", service).replace("PORT", str(CONTAINER_PORT))
    site = f"\n        location / {{{proxy}\n        }}"
    certificate = f"/run/secrets/{TLS_SECRET_FILE}" if acme_peers is None else TLS_FILE
    if tls is None:
        servers = f"    server {{\n        listen {CONTAINER_PORT} default_server;{site}\n    }}"
    else:
        # The image's health check asks the HTTP port: /.sitedeploy/ stays there.
        own = f"\n        location ^~ /.sitedeploy/ {{{proxy}\n        }}"
        acme = acme_peers is not None
        servers = tls_servers(
            str(CONTAINER_PORT), str(HTTPS_CONTAINER_PORT), tls, site, on_http=own,
            challenges=peer_challenges(f"tasks.{acme_peers}", CONTAINER_PORT) if acme else None,
            until_certificate=(TLS_FILE, proxy) if acme else None,
            certificate_file=certificate,
        )  # fmt: skip
    return Template((docker_dir() / "swarm-front.conf.in").read_text()).substitute(
        version=__version__,
        tls_settings=tls_settings(certificate) if tls else "",
        servers=servers.strip("\n"),
    )


def immutable(
    engine: Engine, site: Site, collection: Any, what: str, prefix: str, data: bytes
) -> tuple[str, str]:
    """A swarm config or secret (`collection`) holding `data`: immutable, so one per
    content, named by its hash; reused when it exists."""
    name = f"{prefix}-{hashlib.sha256(data).hexdigest()[:10]}"
    with engine.errors(f"Creating swarm {what} {name}"):
        found = collection.list(filters={"name": name})
        made = found[0] if found else collection.create(name=name, data=data, labels=site.labels)
    return str(made.id), name


def front_config(
    engine: Engine, site: Site, service: str, tls: SwarmTls | None = None
) -> tuple[str, str]:
    """The front's nginx.conf as a swarm config."""
    acme_peers = names(site)[1] if tls is not None and tls.given is None else None
    text = render_swarm_front(service, tls.front if tls else None, acme_peers=acme_peers).encode()
    prefix = f"{site.container_name}-front"
    return immutable(engine, site, engine.client.configs, "config", prefix, text)


def _tls_secret(engine: Engine, site: Site, pem: bytes) -> tuple[str, str]:
    """The certificate (the key, then the chain) as a swarm secret."""
    prefix = f"{site.container_name}-tls"
    return immutable(engine, site, engine.client.secrets, "secret", prefix, pem)


def front_spec(
    engine: Engine,
    site: Site,
    image: str,
    port: int,
    network: str,
    service: str,
    tls: SwarmTls | None = None,
) -> dict[str, Any]:
    config_id, config_name = front_config(engine, site, service, tls)
    ports: dict[int, tuple[int, str, str]] = {port: (CONTAINER_PORT, "tcp", "host")}
    secrets = []
    mounts = list(HARDENING["mounts"])
    labels = {**site.labels, Label.ROLE: Role.SWARM_FRONT}
    if tls is not None:
        ports[tls.front.https_port] = (HTTPS_CONTAINER_PORT, "tcp", "host")
    if tls is not None and tls.given is not None:
        secret_id, secret_name = _tls_secret(engine, site, tls.given.pem)
        secrets.append(
            SecretReference(
                secret_id, secret_name, filename=TLS_SECRET_FILE, uid="0", gid=str(USER_ID),
                mode=0o440,
            )
        )  # fmt: skip
        labels[Label.CERTIFICATE] = json.dumps(tls.given.info.as_dict())
    elif tls is not None:  # the node's renewer writes it; the front only reads
        mounts.append(
            Mount(
                TLS_DIR, tls_volume(site), type="volume", read_only=True,
                labels=certificate_volume_labels(site),
            )
        )  # fmt: skip
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
        "labels": labels,
        "container_labels": {**site.labels, Label.ROLE: Role.SWARM_FRONT},
        "mode": ServiceMode("global"),
        "networks": [network],
        # {published: (target, protocol, mode)}; the stubs only know the string forms.
        "endpoint_spec": EndpointSpec(mode="dnsrr", ports=cast(Any, ports)),
        "secrets": secrets,
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
        **HARDENING,
        "mounts": mounts,
        "restart_policy": RestartPolicy(condition="any", delay=SECOND),
    }


def runs(service: Service, image: str, replicas: int) -> bool:
    """True if the service already runs `image` with `replicas` tasks (nothing to roll)."""
    spec = service.attrs["Spec"]
    current = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    wanted = int(spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0))
    return current == image and wanted == replicas


def front_changed(front: Service, spec: dict[str, Any]) -> bool:
    current = front.attrs["Spec"]
    ports = current.get("EndpointSpec", {}).get("Ports") or []
    container = current["TaskTemplate"]["ContainerSpec"]
    configs = container.get("Configs") or []
    secrets = container.get("Secrets") or []
    return (
        sorted(p.get("PublishedPort") for p in ports)
        != sorted(p["PublishedPort"] for p in spec["endpoint_spec"]["Ports"])
        or [c.get("ConfigName") for c in configs] != [spec["configs"][0]["ConfigName"]]
        or [s.get("SecretName") for s in secrets] != [s["SecretName"] for s in spec["secrets"]]
    )
