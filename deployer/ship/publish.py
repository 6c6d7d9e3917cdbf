"""`sitedeploy publish`: push the image `up` previewed to a registry, and verify it there.

The image is the one built for the site's current content (reused, not rebuilt, when
nothing changed), tagged `REGISTRY/REPOSITORY:TAG` for every tag. The daemon pushes; we
show per-layer progress, retry transient failures (a reset connection, a 5xx) a bounded
number of times, and turn the other failures into one clear error each. Then the registry's
own API must report the same digest for every tag, and every layer blob must exist.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import docker.errors
import requests

import docker
from deployer.build.images import SiteImages, build_site
from deployer.config import SiteConfig, is_image_reference
from deployer.engine import Engine
from deployer.errors import ConfigError, RegistryError
from deployer.progress import Progress
from deployer.ship.registry import Credentials, Registry
from deployer.site import Site

ATTEMPTS = 3
FIRST_BACKOFF = 1.0
_AUTH = ("unauthorized", "authentication required", "no basic auth credentials", "denied")
_TLS = ("x509", "tls:", "certificate")
_UNKNOWN_HOST = ("no such host", "name resolution", "server misbehaving")
_TRANSIENT = (
    "connection refused", "connection reset", "eof", "broken pipe", "i/o timeout",
    "timeout", "500 internal", "502", "503", "504", "bad gateway", "service unavailable",
)  # fmt: skip


@dataclass
class PublishResult:
    registry: str
    repository: str
    tags: list[str]
    refs: list[str]
    image_id: str
    digest: str | None = None
    bytes_pushed: int = 0
    layers_pushed: int = 0
    layers_existing: int = 0
    verified_layers: int = 0
    attempts: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    images: SiteImages | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "repository": self.repository,
            "tags": {tag: self.digest for tag in self.tags},
            "refs": self.refs,
            "digest": self.digest,
            "image_id": self.image_id,
            "bytes_pushed": self.bytes_pushed,
            "layers_pushed": self.layers_pushed,
            "layers_existing": self.layers_existing,
            "verified_layers": self.verified_layers,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 2),
            "dry_run": self.dry_run,
        }


def git_commit(folder: str) -> str | None:
    """The short commit of a clean git checkout, or None (not a checkout, or changed)."""
    try:
        status = subprocess.run(
            ["git", "-C", folder, "status", "--porcelain"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
        if status.returncode != 0 or status.stdout.strip():
            return None
        head = subprocess.run(
            ["git", "-C", folder, "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
    except OSError:
        return None
    return head.stdout.strip() or None if head.returncode == 0 else None


def default_tags(site: Site, images: SiteImages) -> list[str]:
    """Stable for the same content: the content hash, plus `git-<commit>` for a clean checkout."""
    tags = [images.content_hash[:12]]
    commit = git_commit(str(site.path))
    if commit:
        tags.append(f"git-{commit}")
    return tags


def validate_target(registry: str, repository: str, tags: list[str]) -> None:
    problems = []
    if not registry or "/" in registry or not is_image_reference(f"{registry}/x"):
        problems.append(
            f"--registry: expected HOST[:PORT] such as localhost:5000, got {registry!r}"
        )
    if not is_image_reference(f"{registry}/{repository}") or ":" in repository:
        problems.append(f"--repository: expected a path such as team/blog, got {repository!r}")
    problems += [
        f"--tag: {tag!r} is not a valid tag (letters, digits, '_', '.', '-'; at most 128)"
        for tag in tags
        if not is_image_reference(f"x:{tag}")
    ]
    if problems:
        raise ConfigError("\n".join(problems))


def _classify(message: str) -> str:
    lowered = message.lower()
    for kind, needles in (
        ("auth", _AUTH),
        ("tls", _TLS),
        ("unknown-host", _UNKNOWN_HOST),
        ("transient", _TRANSIENT),
    ):
        if any(needle in lowered for needle in needles):
            return kind
    return "other"


def _push_error(registry: str, kind: str, message: str, attempts: int) -> RegistryError:
    fixes = {
        "auth": "the registry refused the credentials. Check them (docker login, or "
        "SITEDEPLOY_REGISTRY_USERNAME / SITEDEPLOY_REGISTRY_PASSWORD, or --password-stdin)",
        "tls": "TLS verification failed. If the registry uses a private CA, put its "
        f"certificate in /etc/docker/certs.d/{registry}/ca.crt",
        "unknown-host": "the host name does not resolve. Check --registry",
        "transient": f"it kept failing after {attempts} attempts. Check that the registry "
        "is running and reachable, then run publish again",
        "other": "the daemon could not push",
    }
    return RegistryError(
        f"Pushing to {registry} failed: {fixes[kind]}. The daemon said: {message.strip()}. "
        "The local image is unchanged."
    )


class _Push:
    """One `docker push` of one tag through its own API client (so it can be cut off)."""

    def __init__(self, engine: Engine, registry: Registry, auth: dict[str, str] | None):
        self.engine = engine
        self.registry = registry
        self.auth = auth
        self.layers: dict[str, int] = {}  # layer id -> bytes, for layers uploaded now
        self.existing: set[str] = set()
        self.digest: str | None = None
        self.error: str | None = None

    def run(self, repository: str, tag: str, progress: Progress) -> None:
        client = docker.from_env(timeout=600).api  # its own connection, closed to cancel
        try:
            for event in client.push(
                repository, tag=tag, stream=True, decode=True, auth_config=self.auth
            ):
                if not self._take(event, progress):
                    break
        except (docker.errors.APIError, requests.RequestException) as error:
            self.error = str(getattr(error, "explanation", None) or error)
        finally:
            client.close()  # also cancels the daemon's push if we stopped reading

    def _take(self, event: dict[str, Any], progress: Progress) -> bool:
        """Record one event; False to stop (an error, or the registry went away)."""
        if "errorDetail" in event or "error" in event:
            detail = event.get("errorDetail") or {}
            self.error = str(detail.get("message") or event.get("error"))
            return False
        status = str(event.get("status") or "")
        layer = str(event.get("id") or "")
        aux = event.get("aux") or {}
        if aux.get("Digest"):
            self.digest = str(aux["Digest"])
        if status == "Layer already exists":
            self.existing.add(layer)
        elif status == "Pushing" and event.get("progressDetail", {}).get("total"):
            self.layers[layer] = int(event["progressDetail"]["total"])
        elif status == "Pushed":
            self.layers.setdefault(layer, 0)
        elif status.startswith("Retrying in"):
            # The daemon retries an upload for ~50 s on its own; if the registry is gone,
            # stop now and let our bounded retries decide.
            try:
                self.registry.ping()
            except RegistryError as gone:
                self.error = f"connection refused while pushing ({gone.message})"
                return False
        progress.detail(f"{layer + ': ' if layer else ''}{status} {event.get('progress') or ''}")
        return True


def publish(
    engine: Engine,
    site: Site,
    config: SiteConfig,
    progress: Progress,
    *,
    registry: str,
    repository: str,
    tags: list[str],
    credentials: Credentials | None,
    dry_run: bool = False,
) -> PublishResult:
    """Build (or reuse) the site's image, push every tag, verify the registry holds it."""
    validate_target(registry, repository, tags)
    started = time.monotonic()
    remote = Registry(registry, credentials)
    if not dry_run:
        with progress.step(f"Asking {registry} whether it is a registry"):
            remote.ping()
    images = build_site(engine, site, config, progress)
    tags = tags or default_tags(site, images)
    name = f"{registry}/{repository}"
    result = PublishResult(
        registry, repository, tags, [f"{name}:{t}" for t in tags], images.image.id,
        dry_run=dry_run, images=images,
    )  # fmt: skip
    if dry_run:
        result.seconds = time.monotonic() - started
        return result

    image = engine.client.images.get(images.image.id)
    auth = credentials.as_auth_config() if credentials else None
    pushed: set[str] = set()
    existing: set[str] = set()
    for tag in tags:
        with engine.errors(f"Tagging {name}:{tag}"):
            image.tag(name, tag)
        with progress.step(f"Pushing {name}:{tag}"):
            push = _push_with_retries(engine, remote, auth, name, tag, progress, result)
        if result.digest and push.digest and push.digest != result.digest:
            raise RegistryError(
                f"{registry} reported digest {push.digest} for {tag} but {result.digest} "
                "for an earlier tag of the same image; run publish again."
            )
        result.digest = push.digest or result.digest
        pushed |= set(push.layers)
        existing |= push.existing
    result.layers_pushed = len(pushed)
    result.layers_existing = len(existing - pushed)

    with progress.step(f"Verifying {name} through the registry's API"):
        manifest = _verify(remote, repository, tags, result)
    # Push events name layers by their diff id's first 12 digits, in image order; the
    # manifest lists the same layers, in the same order, with their compressed sizes.
    diff_ids = [d.removeprefix("sha256:")[:12] for d in image.attrs["RootFS"]["Layers"]]
    result.bytes_pushed = sum(
        int(layer.get("size", 0))
        for diff_id, layer in zip(diff_ids, manifest.get("layers", []), strict=False)
        if diff_id in pushed
    )
    result.seconds = time.monotonic() - started
    return result


def _push_with_retries(
    engine: Engine,
    remote: Registry,
    auth: dict[str, str] | None,
    name: str,
    tag: str,
    progress: Progress,
    result: PublishResult,
) -> _Push:
    delay = FIRST_BACKOFF
    for attempt in range(1, ATTEMPTS + 1):
        result.attempts += 1
        push = _Push(engine, remote, auth)
        push.run(name, tag, progress)
        if push.error is None and push.digest:
            return push
        message = push.error or "the push ended without a digest"
        kind = _classify(message)
        if kind != "transient" or attempt == ATTEMPTS:
            raise _push_error(remote.host, kind, message, attempt)
        short = message.strip()[:120]
        progress.warning(
            f"Push to {remote.host} failed ({short}); retry {attempt} in {delay:.0f} s."
        )
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def _verify(
    remote: Registry, repository: str, tags: list[str], result: PublishResult
) -> dict[str, Any]:
    """Check every tag's manifest digest and blobs; return the (shared) manifest."""
    manifest: dict[str, Any] = {}
    for tag in tags:
        digest, manifest = remote.manifest(repository, tag)
        if digest != result.digest:
            raise RegistryError(
                f"Registry {remote.host}: {repository}:{tag} has digest {digest or 'none'}, but "
                f"the push reported {result.digest}. Run publish again."
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
        result.verified_layers = len(layers) - 1
    return manifest


def pin_image(engine: Engine, reference: str) -> str:
    """`REPO:TAG` as `REPO@sha256:…`, from the digest the registry gave when it was pushed
    (or pulled) here; a reference that already has a digest is returned as it is."""
    if "@sha256:" in reference:
        return reference
    repository = reference.rsplit(":", 1)[0] if ":" in reference.rsplit("/", 1)[-1] else reference
    try:
        image = engine.client.images.get(reference)
    except docker.errors.ImageNotFound:
        image = None
    for digest in (image.attrs.get("RepoDigests") or []) if image else []:
        if str(digest).startswith(f"{repository}@"):
            return str(digest)
    raise ConfigError(
        f"--image: {reference} has no known digest here. Use the REPOSITORY@sha256:… that "
        "`sitedeploy publish` printed, or pull the image first."
    )
