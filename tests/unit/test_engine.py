from typing import Any, cast

import docker.errors
import pytest
import requests

from deployer.engine import Engine, reason, refusal
from deployer.errors import DiskFull, EngineError, EngineUnavailable, PortUnavailable
from deployer.push_failures import push_failure, push_failure_kind


def _engine() -> Engine:
    # errors() never touches the client: it only translates what the block raises.
    return Engine(client=cast(Any, None), host="unix:///var/run/docker.sock")


def _nested(root: BaseException) -> Exception:
    """How urllib3 and requests wrap a socket error: as an argument, then as a cause."""
    inner = OSError("Max retries exceeded", root)
    outer = requests.ConnectionError("Connection aborted")
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("root", "text"),
    [
        (FileNotFoundError(2, "No such file or directory"), "no such socket"),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (PermissionError(13, "Permission denied"), "permission denied (run as root"),
        (TimeoutError("timed out"), "timed out"),
    ],
)
def test_reason_names_the_root_cause(root: BaseException, text: str) -> None:
    assert reason(_nested(root)).startswith(text)


def test_reason_survives_a_cycle() -> None:
    first, second = ValueError("first"), ValueError("second")
    first.__cause__, second.__cause__ = second, first
    assert reason(first) in {"first", "second"}


@pytest.mark.parametrize(
    ("explanation", "error_type", "advice"),
    [
        ("driver failed: Bind for 127.0.0.1:8080 failed: port is already allocated",
         PortUnavailable, "choose another port with --port"),
        ("listen tcp 0.0.0.0:80: bind: address already in use",
         PortUnavailable, "choose another port with --port"),
        ('nginx: [emerg] bind() to 0.0.0.0:80 failed (13: Permission denied)',
         PortUnavailable, "the port cannot be opened"),
        ("write /var/lib/docker/x: no space left on device", DiskFull, "docker system prune"),
        ("conflict: unable to remove repository reference", EngineError, "refused: conflict"),
    ],
)  # fmt: skip
def test_refusals_become_advice(explanation: str, error_type: type, advice: str) -> None:
    error = refusal("Starting web", "unix:///var/run/docker.sock", explanation)
    assert type(error) is error_type
    assert error.message.startswith("Starting web: ")
    assert advice in error.message


def test_errors_translates_what_docker_py_raises() -> None:
    engine = _engine()
    taken = docker.errors.APIError("500", explanation="port is already allocated")
    gone = docker.errors.NotFound("404", explanation="No such container: y")
    cases: list[tuple[Exception, type[Exception], str]] = [
        (taken, PortUnavailable, "Doing it: the port is already in use"),
        (gone, EngineError, "Doing it: No such container: y"),
        (_nested(ConnectionRefusedError(111, "refused")), EngineUnavailable, "Cannot reach"),
        (requests.ReadTimeout("read timed out"), EngineError, "did not answer in time"),
    ]
    for raised, expected, text in cases:
        with pytest.raises(expected) as caught, engine.errors("Doing it"):
            raise raised
        assert text in str(caught.value)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("unauthorized: authentication required", "auth"),
        ("denied: requested access to the resource is denied", "auth"),
        ("tls: failed to verify certificate: x509: certificate signed by unknown authority",
         "tls"),
        ('Get "https://nope.invalid/v2/": dial tcp: lookup nope.invalid: no such host',
         "unknown-host"),
        ("dial tcp 127.0.0.1:5000: connect: connection refused", "transient"),
        ("received unexpected HTTP status: 503 Service Unavailable", "transient"),
        ('pinging container registry 127.0.0.1:5556: Get "https://127.0.0.1:5556/v2/": http: '
         "server gave HTTP response to HTTPS client", "plain-http"),  # Podman's words
        ("manifest invalid: manifest invalid", "other"),
    ],
)  # fmt: skip
def test_push_failures_are_classified(message: str, kind: str) -> None:
    assert push_failure_kind(message) == kind


def test_push_failure_says_the_fix_and_keeps_the_daemons_words() -> None:
    tls = push_failure("registry.example:5000", "x509: certificate signed by unknown authority", 1)
    assert "/etc/docker/certs.d/registry.example:5000/ca.crt" in tls.message
    assert "The daemon said: x509: certificate signed by unknown authority." in tls.message
    plain = push_failure("127.0.0.1:5556", "server gave HTTP response to HTTPS client", 1)
    assert 'location = "127.0.0.1:5556", insecure = true' in plain.message
    refused = push_failure("localhost:5000", "connection refused", 3)
    assert "kept failing after 3 attempts" in refused.message
    assert refused.message.endswith("The local image is unchanged.")
