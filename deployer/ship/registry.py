"""A container registry over its HTTP API (v2): is it one, and does it hold what we pushed?

The daemon pushes images; this module asks the registry itself, the way a puller will:
`/v2/` answers like a registry, the manifest of a tag has the digest the push reported,
and every layer blob it names exists. It also stores what is not an image (a signature's
blobs and manifest: ship/signatures.py). TLS is verified with the CA Docker would use for
that registry (`/etc/docker/certs.d/HOST/ca.crt`) or the system's; plain HTTP is only
tried for loopback registries, which the daemon also reaches without TLS.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from deployer.digests import blob_digest
from deployer.errors import ConfigError, RegistryError
from deployer.hosts import hostname, is_loopback
from docker import auth as docker_auth

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = ", ".join(
    [
        DOCKER_MANIFEST,
        OCI_MANIFEST,
        "application/vnd.docker.distribution.manifest.list.v2+json",
        OCI_INDEX,
    ]
)
CERTS_DIR = Path("/etc/docker/certs.d")
TIMEOUT = 10.0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def as_auth_config(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}


def registry_credentials(
    registry: str, username: str | None, password_stdin: bool
) -> Credentials | None:
    """Credentials from --password-stdin, the environment, or `docker login`, in that order.

    The password never comes from the command line, so it is never in argv or history.
    """
    user = username or os.environ.get("SITEDEPLOY_REGISTRY_USERNAME")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not user or not password:
            raise ConfigError(
                "--password-stdin needs a user (--username or SITEDEPLOY_REGISTRY_USERNAME) "
                "and a password on stdin."
            )
        return Credentials(user, password)
    password = os.environ.get("SITEDEPLOY_REGISTRY_PASSWORD")
    if user and password:
        return Credentials(user, password)
    if password and not user:
        raise ConfigError(
            "SITEDEPLOY_REGISTRY_PASSWORD is set but no user: set "
            "SITEDEPLOY_REGISTRY_USERNAME (or --username) too."
        )
    return docker_config_credentials(registry)


def docker_config_credentials(registry: str) -> Credentials | None:
    """Credentials `docker login` stored for `registry` (config.json or a helper)."""
    try:
        config = docker_auth.load_config()
        found = docker_auth.resolve_authconfig(config, registry)
    except Exception:
        return None
    if found and found.get("username") and found.get("password"):
        return Credentials(str(found["username"]), str(found["password"]))
    return None


class Registry:
    """The v2 API of one registry, authenticated like the daemon (Basic or Bearer token)."""

    def __init__(self, host: str, credentials: Credentials | None) -> None:
        self.host = host
        self.credentials = credentials
        self._http = requests.Session()
        ca = CERTS_DIR / host / "ca.crt"
        # Passed on every request: a session's `verify` loses to REQUESTS_CA_BUNDLE.
        self._verify: str | bool = str(ca) if ca.is_file() else True
        self._base: str | None = None
        self._token: str | None = None

    # -- connection ---------------------------------------------------------------

    def _send(self, method: str, url: str, **options: Any) -> requests.Response:
        return self._http.request(method, url, verify=self._verify, **options)

    def _fail(self, what: str, fix: str) -> RegistryError:
        return RegistryError(f"Registry {self.host}: {what}. {fix}")

    def _first_answer(self) -> requests.Response:
        schemes = ["https", "http"] if is_loopback(self.host) else ["https"]
        last: Exception | None = None
        for scheme in schemes:
            try:
                response = self._send("GET", f"{scheme}://{self.host}/v2/", timeout=TIMEOUT)
            except requests.exceptions.SSLError as error:
                last = error
                if scheme == "https" and "wrong version number" not in str(error).lower():
                    raise self._fail(
                        f"TLS verification failed ({_short(error)})",
                        f"If it uses a private CA, put the CA certificate in {CERTS_DIR}/"
                        f"{self.host}/ca.crt (the daemon reads it there too).",
                    ) from error
                continue
            except requests.ConnectionError as error:
                last = error
                continue
            self._base = f"{scheme}://{self.host}"
            return response
        self._raise_unreachable(last)
        raise AssertionError("unreachable")

    def _raise_unreachable(self, error: Exception | None) -> None:
        name = hostname(self.host)
        try:
            socket.getaddrinfo(name, None)
        except socket.gaierror as lookup:
            raise self._fail(
                f"unknown host {name!r} ({lookup.strerror})",
                "Check the --registry name (HOST[:PORT]) and your DNS.",
            ) from error
        raise self._fail(
            f"nothing answers there ({_short(error)})",
            "Check that the registry is running and the port in --registry is right.",
        ) from error

    def ping(self) -> None:
        """Raise RegistryError unless the host answers like a registry (API v2)."""
        response = self._first_answer()
        version = response.headers.get("Docker-Distribution-API-Version", "")
        if response.status_code not in {200, 401} or not version.startswith("registry/2"):
            raise self._fail(
                f"{self._base}/v2/ answered {response.status_code} without a registry API "
                "header: this is not a container registry",
                "Check --registry: it must name a registry (HOST[:PORT]), not a website.",
            )
        if response.status_code == 401:
            self._authenticate(response, scope="")
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            again = self._send("GET", f"{self._base}/v2/", headers=headers, timeout=TIMEOUT)
            if again.status_code == 401:
                raise self._unauthorized()

    # -- authentication -----------------------------------------------------------

    def _authenticate(self, challenge: requests.Response, scope: str) -> None:
        header = challenge.headers.get("WWW-Authenticate", "")
        if self.credentials is None:
            raise self._fail(
                "it requires a login, and no credentials were given",
                "Run `docker login` for it, set SITEDEPLOY_REGISTRY_USERNAME and "
                "SITEDEPLOY_REGISTRY_PASSWORD, or use --username with --password-stdin.",
            )
        if header.lower().startswith("basic"):
            self._http.auth = (self.credentials.username, self.credentials.password)
            return
        params = dict(re.findall(r'(\w+)="([^"]*)"', header))
        query = {"service": params.get("service", "")}
        if scope or params.get("scope"):
            query["scope"] = scope or params["scope"]
        response = self._send(
            "GET",
            params.get("realm", ""),
            params=query,
            auth=(self.credentials.username, self.credentials.password),
            timeout=TIMEOUT,
        )
        if response.status_code != 200:
            raise self._unauthorized()
        body = response.json()
        self._token = str(body.get("token") or body.get("access_token") or "")

    def _unauthorized(self) -> RegistryError:
        return self._fail(
            "the credentials were refused (401 unauthorized)",
            "Check the username and password (or run `docker login` again).",
        )

    def _get(
        self,
        repository: str,
        path: str,
        *,
        method: str = "GET",
        accept: str | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> requests.Response:
        """`/v2/<repository>/<path>` (or `path` itself, a URL the registry gave),
        authenticating once if the registry asks (to push, for anything but a read)."""
        if self._base is None:
            self.ping()
        url = path if "://" in path else f"{self._base}/v2/{repository}/{path}"
        access = "pull" if method in {"GET", "HEAD"} else "pull,push"
        for attempt in range(2):
            headers = {"Accept": accept} if accept else {}
            if content_type:
                headers["Content-Type"] = content_type
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            response = self._send(method, url, headers=headers, data=body, timeout=TIMEOUT)
            if response.status_code != 401:
                return response
            if attempt or (self._http.auth is not None and not self._token):
                break
            self._authenticate(response, scope=f"repository:{repository}:{access}")
        raise self._unauthorized()

    # -- what a puller sees -----------------------------------------------------------

    def manifest(self, repository: str, reference: str) -> tuple[str, dict[str, Any]]:
        """The manifest of `repository:reference` and its digest, as the registry reports."""
        found = self.find_manifest(repository, reference)
        if found is None:
            raise self._fail(
                f"no manifest for {repository}:{reference}",
                "The push did not land; run publish again.",
            )
        return found

    def find_manifest(self, repository: str, reference: str) -> tuple[str, dict[str, Any]] | None:
        """`manifest`, or None when the registry has none there (404)."""
        response = self._get(repository, f"manifests/{reference}", accept=MANIFEST_TYPES)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(
                f"the manifest of {repository}:{reference} could not be read "
                f"(status {response.status_code})",
                "Check the registry, and that the credentials may read there.",
            )
        return response.headers.get("Docker-Content-Digest", ""), dict(response.json())

    def has_blob(self, repository: str, digest: str) -> bool:
        response = self._get(repository, f"blobs/{digest}", method="HEAD")
        return response.status_code == 200

    def blob(self, repository: str, digest: str) -> bytes:
        """A blob's bytes, checked against its digest."""
        response = self._get(repository, f"blobs/{digest}")
        if response.status_code != 200 or digest != blob_digest(response.content):
            raise self._fail(
                f"blob {digest} of {repository} is missing or damaged "
                f"(status {response.status_code})",
                "Push it again.",
            )
        return response.content

    # -- what sitedeploy writes besides images (signatures) -----------------------------

    def put_blob(self, repository: str, data: bytes) -> str:
        """Upload `data` as a blob (once: a blob already there is not sent again)."""
        digest = blob_digest(data)
        if self.has_blob(repository, digest):
            return digest
        started = self._get(repository, "blobs/uploads/", method="POST")
        location = started.headers.get("Location", "")
        if started.status_code != 202 or not location:
            raise self._fail(
                f"it refused an upload to {repository} (status {started.status_code})",
                "Check that the credentials may push there.",
            )
        if "://" not in location:
            location = f"{self._base}{location}"
        joined = "&" if "?" in location else "?"
        done = self._get(
            repository, f"{location}{joined}digest={digest}", method="PUT", body=data,
            content_type="application/octet-stream",
        )  # fmt: skip
        if done.status_code != 201:
            raise self._fail(
                f"it did not take blob {digest} (status {done.status_code})", "Try again."
            )
        return digest

    def put_manifest(
        self, repository: str, reference: str, manifest: bytes, media_type: str
    ) -> str:
        """Store `manifest` as `repository:reference`; its digest."""
        response = self._get(
            repository, f"manifests/{reference}", method="PUT", body=manifest,
            content_type=media_type,
        )  # fmt: skip
        if response.status_code != 201:
            raise self._fail(
                f"it refused the manifest for {repository}:{reference} "
                f"(status {response.status_code}: {response.text[:200]})",
                "Check that the credentials may push there.",
            )
        return blob_digest(manifest)

    def tags(self, repository: str) -> list[str]:
        response = self._get(repository, "tags/list")
        if response.status_code != 200:
            return []
        return list(response.json().get("tags") or [])


def verify_pushed(
    remote: Registry, repository: str, tag: str, pushed: str | None
) -> dict[str, Any]:
    """The manifest of `tag` (or a digest), once the registry's digest for it is `pushed`
    and it has every blob the manifest names."""
    digest, manifest = remote.manifest(repository, tag)
    if digest != pushed:
        raise RegistryError(
            f"Registry {remote.host}: {repository}:{tag} has digest {digest or 'none'}, but "
            f"the push reported {pushed}. Run publish again."
        )
    layers = [manifest.get("config", {}), *manifest.get("layers", [])]
    missing = [
        layer["digest"] for layer in layers if not remote.has_blob(repository, layer["digest"])
    ]
    if missing:
        raise RegistryError(
            f"Registry {remote.host}: {repository}:{tag} names blobs it does not have: "
            f"{', '.join(missing)}. Run publish again."
        )
    return manifest


def _short(error: Exception | None) -> str:
    text = str(error) if error else "no answer"
    reason = re.search(
        r"\[Errno -?\d+\] ([^'\")]+)|(\w+Error: [^'\")]+)|(CERTIFICATE_VERIFY_FAILED[^'\")]*)", text
    )
    return next((g for g in reason.groups() if g), text)[:160] if reason else text[:160]
