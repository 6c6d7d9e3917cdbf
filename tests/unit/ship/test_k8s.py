"""The Kubernetes manifests: valid against Kubernetes' own schemas, hardened, digest-pinned."""

from typing import Any

import kubernetes_validate
import pytest
import yaml

from deployer.errors import ConfigError
from deployer.provenance.signing import new_key, read_public_key
from deployer.ship.k8s import K8sTls, manifests, render_yaml, signed_policy

IMAGE = "registry.example.com:5000/team/blog@sha256:" + "ab" * 32


def by_kind(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in documents}


@pytest.mark.parametrize("version", ["1.30.0", kubernetes_validate.latest_version()])
def test_every_document_validates_strictly(version: str) -> None:
    text = render_yaml(manifests("blog", IMAGE, replicas=3, hosts=("blog.example.com",)))
    documents = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in documents] == ["Deployment", "Service", "Ingress"]
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


def test_deployment_is_pinned_hardened_probed_and_never_drops_capacity() -> None:
    deployment = by_kind(manifests("blog", IMAGE, replicas=3))["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 101
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/.sitedeploy/health"
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    assert container["resources"]["limits"]["memory"] == "128Mi"
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_service_and_optional_ingress() -> None:
    assert "Ingress" not in by_kind(manifests("blog", IMAGE))
    service = by_kind(manifests("blog", IMAGE))["Service"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    ingress = by_kind(manifests("blog", IMAGE, hosts=("blog.example.com",)))["Ingress"]
    assert ingress["spec"]["rules"][0]["host"] == "blog.example.com"


def test_unpinned_image_and_bad_values_are_refused_together() -> None:
    with pytest.raises(ConfigError) as raised:
        manifests("Blog!", "team/blog:latest", replicas=0, hosts=("not a host",))
    message = raised.value.message
    assert "is not pinned to a digest" in message
    assert "not a valid Kubernetes name" in message
    assert "--replicas: expected at least 1" in message
    assert "--host: expected a DNS name" in message


def _tls_documents(tls: K8sTls) -> list[dict[str, Any]]:
    hosts = ("blog.example.com", "www.blog.example.com")
    return list(yaml.safe_load_all(render_yaml(manifests("blog", IMAGE, hosts=hosts, tls=tls))))


@pytest.mark.parametrize("version", ["1.30.0", kubernetes_validate.latest_version()])
def test_https_at_the_ingress_validates_strictly(version: str) -> None:
    for tls in (K8sTls(issuer="letsencrypt"), K8sTls(given=(b"CHAIN", b"KEY"))):
        for document in _tls_documents(tls):
            kubernetes_validate.validate(document, version, strict=True)


def test_cert_manager_gets_the_certificate_for_every_name() -> None:
    ingress = by_kind(_tls_documents(K8sTls(issuer="letsencrypt")))["Ingress"]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert ingress["spec"]["tls"] == [
        {"hosts": ["blog.example.com", "www.blog.example.com"], "secretName": "blog-tls"}
    ]
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [
        "blog.example.com",
        "www.blog.example.com",
    ]


def test_a_given_certificate_becomes_a_tls_secret() -> None:
    documents = by_kind(_tls_documents(K8sTls(given=(b"CHAIN", b"KEY"))))
    secret = documents["Secret"]
    assert secret["type"] == "kubernetes.io/tls" and secret["metadata"]["name"] == "blog-tls"
    assert secret["data"] == {"tls.crt": "Q0hBSU4=", "tls.key": "S0VZ"}
    assert "annotations" not in documents["Ingress"]["metadata"]
    with pytest.raises(ConfigError, match="needs its host names"):
        manifests("blog", IMAGE, tls=K8sTls(issuer="letsencrypt"))


def test_a_verify_key_becomes_a_kyverno_policy_enforcing_that_keys_signature() -> None:
    _sealed, public = new_key(b"pw")
    policy = signed_policy("blog", IMAGE, public)
    kubernetes_validate.validate(  # its metadata, as any object's
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": policy["metadata"]},
        kubernetes_validate.latest_version(), strict=True,
    )  # fmt: skip
    assert (policy["apiVersion"], policy["kind"]) == ("kyverno.io/v1", "ClusterPolicy")
    assert policy["spec"]["validationFailureAction"] == "Enforce"
    (rule,) = policy["spec"]["rules"]
    (check,) = rule["verifyImages"]
    assert check["imageReferences"] == ["registry.example.com:5000/team/blog*"]
    assert check["verifyDigest"] is True and check["required"] is True
    keys = check["attestors"][0]["entries"][0]["keys"]
    assert read_public_key(keys["publicKeys"].encode(), "policy")  # the very key, as PEM
    assert keys["rekor"] == {"ignoreTlog": True}
    # It is one more document of the same YAML.
    text = render_yaml([*manifests("blog", IMAGE), policy])
    assert [d["kind"] for d in yaml.safe_load_all(text)][-1] == "ClusterPolicy"
