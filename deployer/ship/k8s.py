"""`sitedeploy k8s`: Kubernetes manifests for the very image that was previewed.

A Deployment pinned to the image digest, with the same hardening the preview container
gets (non-root UID 101, read-only root filesystem with an emptyDir on /tmp, every
capability dropped, no privilege escalation, the runtime's default seccomp profile),
readiness and liveness probes on nginx's health location, a rolling update that never
drops capacity (maxUnavailable 0), requests and limits; a Service; and, when asked, an
Ingress for its host names — with HTTPS ([tls] domains): a `tls:` section and either
cert-manager's `cert-manager.io/cluster-issuer` annotation (cert-manager gets and renews
the certificate over ACME) or a `kubernetes.io/tls` Secret made from a given certificate
and key; with a verify key ([deploy] verify_key), a Kyverno ClusterPolicy that admits the
image only with that key's signature. Written as YAML, validated in the tests against
Kubernetes' own JSON schemas (Kyverno's policy is a custom resource: checked by shape). No
cluster runs here, so nothing is applied.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

import yaml

from deployer.certs import given_pair
from deployer.engine import Engine, connect
from deployer.errors import ConfigError
from deployer.hardening import CAP_DROP, CONTAINER_PORT, HEALTH_PATH, TMP_BYTES, TMP_PATH, USER_ID
from deployer.ship.publish import pin_image
from deployer.site import Site
from deployer.tls_settings import TlsSettings

_DIGEST_REF = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
)


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "sitedeploy"}


def _deployment(name: str, image: str, replicas: int) -> dict[str, Any]:
    probe = {
        "httpGet": {"path": HEALTH_PATH, "port": "http"},
        "periodSeconds": 10,
        "timeoutSeconds": 2,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": _labels(name)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": USER_ID,
                        "runAsGroup": USER_ID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "nginx",
                            "image": image,
                            "ports": [{"name": "http", "containerPort": CONTAINER_PORT}],
                            "readinessProbe": {**probe, "initialDelaySeconds": 1},
                            "livenessProbe": {
                                **probe,
                                "initialDelaySeconds": 5,
                                "failureThreshold": 3,
                            },
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "32Mi"},
                                "limits": {"cpu": "500m", "memory": "128Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                                "capabilities": {"drop": list(CAP_DROP)},
                            },
                            "volumeMounts": [{"name": "tmp", "mountPath": TMP_PATH}],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "tmp",
                            "emptyDir": {
                                "medium": "Memory",
                                "sizeLimit": f"{TMP_BYTES // 2**20}Mi",
                            },
                        }
                    ],
                },
            },
        },
    }


def _service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


@dataclass(frozen=True)
class K8sTls:
    """HTTPS at the Ingress: cert-manager's ClusterIssuer (ACME), or a given certificate."""

    issuer: str | None = None  # the ClusterIssuer cert-manager gets certificates from
    given: tuple[bytes, bytes] | None = None  # (chain PEM, key PEM): a kubernetes.io/tls Secret


def ingress_tls(settings: TlsSettings, issuer: str) -> tuple[K8sTls | None, tuple[str, ...]]:
    """[tls] at the Ingress, and its host names: cert-manager's `issuer` for ACME, or the
    given certificate (read and checked here, as a deploy would)."""
    if not settings.enabled:
        return None, ()
    if settings.cert is None or settings.key is None:
        return K8sTls(issuer=issuer), settings.domains
    fix = "Fix [tls] cert and key in sitedeploy.toml."
    pair = given_pair(settings.cert, settings.key, settings.domains, fix)
    names = settings.domains or tuple(n for n in pair.info.names if not n.startswith("*."))
    return K8sTls(given=(pair.chain, pair.key)), names


def tls_secret_name(name: str) -> str:
    return f"{name}-tls"


def _ingress(name: str, hosts: tuple[str, ...], tls: K8sTls | None) -> dict[str, Any]:
    path = {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": name, "port": {"name": "http"}}},
    }
    metadata: dict[str, Any] = {"name": name, "labels": _labels(name)}
    spec: dict[str, Any] = {"rules": [{"host": host, "http": {"paths": [path]}} for host in hosts]}
    if tls is not None:
        spec["tls"] = [{"hosts": list(hosts), "secretName": tls_secret_name(name)}]
        if tls.issuer:
            metadata["annotations"] = {"cert-manager.io/cluster-issuer": tls.issuer}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    }


def _tls_secret(name: str, chain: bytes, key: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": tls_secret_name(name), "labels": _labels(name)},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(chain).decode(),
            "tls.key": base64.b64encode(key).decode(),
        },
    }


def manifests(
    name: str,
    image: str,
    *,
    replicas: int = 2,
    hosts: tuple[str, ...] = (),
    tls: K8sTls | None = None,
) -> list[dict[str, Any]]:
    """The Deployment, the Service and (with `hosts`) the Ingress — with `tls`, HTTPS
    there, and a TLS Secret for a given certificate — as dictionaries."""
    problems = []
    if not _DIGEST_REF.match(image):
        problems.append(
            f"--image: {image!r} is not pinned to a digest; use REPOSITORY@sha256:… "
            "(what `sitedeploy publish` prints), so every pod runs the image you previewed."
        )
    if not _DNS_LABEL.match(name):
        problems.append(f"name {name!r} is not a valid Kubernetes name (a DNS label).")
    if replicas < 1:
        problems.append(f"--replicas: expected at least 1, got {replicas}.")
    for host in hosts:
        if not _HOST.match(host):
            problems.append(f"--host: expected a DNS name such as blog.example.com, got {host!r}.")
    if tls is not None and not hosts:
        problems.append("HTTPS at the Ingress needs its host names: set [tls] domains or --host.")
    if problems:
        raise ConfigError("\n".join(problems))
    documents = [_deployment(name, image, replicas), _service(name)]
    if tls is not None and tls.given is not None:
        documents.append(_tls_secret(name, *tls.given))
    if hosts:
        documents.append(_ingress(name, hosts, tls))
    return documents


def signed_policy(name: str, image: str, public_key: bytes) -> dict[str, Any]:
    """A Kyverno ClusterPolicy admitting a pod with the site's image only when the key's
    signature (cosign's format, as `publish --sign` pushes it) holds for its digest. No
    transparency log or SCT is asked for: the key is the trust."""
    repository = image.split("@", 1)[0]
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": f"{name}-signed", "labels": _labels(name)},
        "spec": {
            "validationFailureAction": "Enforce",
            "background": False,
            "webhookTimeoutSeconds": 30,
            "rules": [
                {
                    "name": "signed-by-the-publish-key",
                    "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                    "verifyImages": [
                        {
                            "imageReferences": [f"{repository}*"],
                            "mutateDigest": False,
                            "verifyDigest": True,
                            "required": True,
                            "attestors": [
                                {
                                    "entries": [
                                        {
                                            "keys": {
                                                "publicKeys": public_key.decode().strip(),
                                                "rekor": {"ignoreTlog": True},
                                                "ctlog": {"ignoreSCT": True},
                                            }
                                        }
                                    ]
                                }
                            ],
                        }
                    ],
                }
            ],
        },
    }


def render_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)


def last_published(engine: Engine, repository: str) -> str:
    """The digest reference of the image last pushed to (or pulled from) `repository`
    (REGISTRY/REPO) here: what `sitedeploy publish` printed."""
    with engine.errors(f"Listing {repository}"):
        images = engine.client.images.list(name=repository)
    newest = sorted(images, key=lambda image: str(image.attrs.get("Created", "")), reverse=True)
    for image in newest:
        for digest in image.attrs.get("RepoDigests") or []:
            if str(digest).startswith(f"{repository}@"):
                return str(digest)
    raise ConfigError(
        f"k8s: nothing was published to {repository} from here, so there is no digest to pin. "
        "Run `sitedeploy publish` first, or give --image REPOSITORY@sha256:…."
    )


def k8s_yaml(
    site: Site,
    image: str | None,
    *,
    replicas: int,
    hosts: tuple[str, ...] = (),
    tls: K8sTls | None = None,
    published: str | None = None,
    engine: Engine | None = None,
    verify_key: bytes | None = None,
) -> tuple[str, str]:
    """`sitedeploy k8s`: the manifests and the image they pin. `image` is pinned to its
    digest (a tag pushed from here is looked up in the engine, only asked then); without
    it, the image last published to `published` (REGISTRY/REPO, from [publish])."""
    if image is None:
        if published is None:
            raise ConfigError(
                "k8s: which image? Give --image REPOSITORY@sha256:… (what `sitedeploy publish` "
                "printed), or name the registry in sitedeploy.toml's [publish] registry and "
                "repository and publish there first."
            )
        pinned = last_published(engine or connect(), published)
    else:
        pinned = image if "@sha256:" in image else pin_image(engine or connect(), image)
    documents = manifests(site.name, pinned, replicas=replicas, hosts=hosts, tls=tls)
    if verify_key is not None:
        documents.append(signed_policy(site.name, pinned, verify_key))
    return render_yaml(documents), pinned
