"""What the Docker daemon says when a push fails: its kind (worth retrying or not) and
the error with the fix for it."""

from __future__ import annotations

from deployer.errors import RegistryError

_PUSH_FAILURES = (
    ("auth", ("unauthorized", "authentication required", "no basic auth credentials", "denied")),
    ("plain-http", ("server gave http response to https client",)),
    ("tls", ("x509", "tls:", "certificate")),
    ("unknown-host", ("no such host", "name resolution", "server misbehaving")),
    ("transient", (
        "connection refused", "connection reset", "eof", "broken pipe", "i/o timeout",
        "timeout", "500 internal", "502", "503", "504", "bad gateway", "service unavailable",
    )),
)  # fmt: skip


def push_failure_kind(message: str) -> str:
    """auth, plain-http, tls, unknown-host, transient (worth retrying) or other."""
    lowered = message.lower()
    for kind, needles in _PUSH_FAILURES:
        if any(needle in lowered for needle in needles):
            return kind
    return "other"


def push_failure(registry: str, message: str, attempts: int) -> RegistryError:
    """The error for a push the daemon could not finish, with the fix for its kind."""
    fixes = {
        "auth": "the registry refused the credentials. Check them (docker login, or "
        "SITEDEPLOY_REGISTRY_USERNAME / SITEDEPLOY_REGISTRY_PASSWORD, or --password-stdin)",
        "plain-http": f"{registry} answers plain HTTP and the engine asked over HTTPS. "
        "Docker allows plain HTTP to 127.0.0.0/8 and to the registries in daemon.json's "
        "insecure-registries; Podman only to those marked insecure in registries.conf "
        f'([[registry]] location = "{registry}", insecure = true). Or serve it over HTTPS',
        "tls": "TLS verification failed. If the registry uses a private CA, put its "
        f"certificate in /etc/docker/certs.d/{registry}/ca.crt",
        "unknown-host": "the host name does not resolve. Check --registry",
        "transient": f"it kept failing after {attempts} attempts. Check that the registry "
        "is running and reachable, then run publish again",
        "other": "the daemon could not push",
    }
    return RegistryError(
        f"Pushing to {registry} failed: {fixes[push_failure_kind(message)]}. The daemon said: "
        f"{message.strip()}. The local image is unchanged."
    )
