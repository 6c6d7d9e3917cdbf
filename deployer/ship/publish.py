"""Pushing a site's image to a registry, and verifying it there.

The image is the one built for the site's current content (commands/publish.py builds or
reuses it), tagged `REGISTRY/REPOSITORY:TAG` for every tag. The daemon pushes; we
show per-layer progress, retry transient failures (a reset connection, a 5xx) a bounded
number of times, and turn the other failures into one clear error each. Then the registry's
own API must report the same digest for every tag, and every layer blob must exist.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from deployer.config import SiteConfig
from deployer.config_checks import is_image_reference
from deployer.engine import Engine
from deployer.errors import ConfigError, EngineError, RegistryError
from deployer.image.images import SiteImages
from deployer.labels import content_tag
from deployer.progress import Progress, follow_events
from deployer.push_failures import push_failure, push_failure_kind
from deployer.ship.platform_index import PlatformImage
from deployer.ship.registry import Credentials, Registry, verify_pushed
from deployer.site import Site

ATTEMPTS = 3
FIRST_BACKOFF = 1.0


@dataclass(frozen=True)
class PublishSettings:
    """Where to push: from flags, else `[publish]` in sitedeploy.toml (see `target`)."""

    registry: str | None = None
    repository: str | None = None
    tags: tuple[str, ...] = ()  # empty: the default tags
    credentials: Credentials | None = field(default=None, repr=False)
    dry_run: bool = False

    def named(self, config: SiteConfig) -> tuple[str, str] | None:
        """(registry, repository) from flags, else `[publish]`; None unless both are set."""
        registry = self.registry or config.registry
        repository = self.repository or config.repository
        return (registry, repository) if registry and repository else None

    def target(self, config: SiteConfig, command: str = "publish") -> tuple[str, str]:
        """(registry, repository), or one error naming both ways to set them."""
        named = self.named(config)
        if named is None:
            raise ConfigError(
                f"{command} needs --registry and --repository (or [publish] registry and "
                "repository in sitedeploy.toml)."
            )
        return named


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
    signature: dict[str, Any] | None = None  # where the signature is (with --sign)
    platforms: list[PlatformImage] = field(default_factory=list)  # an index's, by CPU
    targets: list[str] = field(default_factory=list)  # the CPUs published (or, dry, would be)

    def as_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
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
            "platforms": [image.as_dict() for image in self.platforms],
            "targets": self.targets,
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


def default_tags(site: Site, content_hash: str) -> list[str]:
    """Stable for the same content: the content hash, plus `git-<commit>` for a clean checkout."""
    tags = [content_tag(content_hash)]
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


_PUSHED = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: \d+")


def pushed_digest(aux: list[dict[str, Any]], lines: list[str]) -> str | None:
    """The manifest digest a push ended with: in an `aux` object (the classic store), or
    only in its last status line, "TAG: digest: sha256:… size: N" (the containerd store)."""
    digests = [str(entry["Digest"]) for entry in aux if entry.get("Digest")]
    digests += [found.group(1) for line in lines if (found := _PUSHED.search(line))]
    return digests[-1] if digests else None


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
        client = self.engine.separate_api(timeout=600)
        try:
            with self.engine.errors(f"Pushing {repository}:{tag}"):
                events = client.push(
                    repository, tag=tag, stream=True, decode=True, auth_config=self.auth
                )
                log = follow_events(events, progress, observe=self._take)
            self.error = self.error or log.error
            self.digest = pushed_digest(log.aux, log.lines)
        except EngineError as error:
            self.error = error.message
        finally:
            client.close()  # also cancels the daemon's push if we stopped reading

    def _take(self, event: dict[str, Any]) -> bool:
        """Count one layer event; False to stop (the registry went away)."""
        status = str(event.get("status") or "")
        layer = str(event.get("id") or "")
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
        return True


def push_site(
    engine: Engine,
    remote: Registry,
    repository: str,
    tags: list[str],
    images: SiteImages,
    settings: PublishSettings,
    progress: Progress,
) -> PublishResult:
    """Push every tag of the site's image to `remote`, then verify the registry holds it
    (with `settings.dry_run`, only say what would be pushed where)."""
    name = f"{remote.host}/{repository}"
    result = PublishResult(
        remote.host, repository, tags, [f"{name}:{t}" for t in tags], images.image.id,
        dry_run=settings.dry_run, images=images,
    )  # fmt: skip
    if settings.dry_run:
        return result

    auth = settings.credentials.as_auth_config() if settings.credentials else None
    pushed: set[str] = set()
    existing: set[str] = set()
    for tag in tags:
        with engine.errors(f"Tagging {name}:{tag}"):
            engine.client.images.get(images.image.id).tag(name, tag)
        with progress.step(f"Pushing {name}:{tag}"):
            push = _push_with_retries(engine, remote, auth, name, tag, progress, result)
        if result.digest and push.digest and push.digest != result.digest:
            raise RegistryError(
                f"{remote.host} reported digest {push.digest} for {tag} but {result.digest} "
                "for an earlier tag of the same image; run publish again."
            )
        result.digest = push.digest or result.digest
        pushed |= set(push.layers)
        existing |= push.existing
    result.layers_pushed = len(pushed)
    result.layers_existing = len(existing - pushed)

    with progress.step(f"Verifying {name} through the registry's API"):
        manifest = _verify(remote, repository, tags, result)
    # Push events name layers by the first 12 digits of their diff id (the classic store)
    # or of their blob's digest (the containerd store), in image order; the manifest lists
    # the same layers, in the same order, with their compressed sizes.
    image = engine.find_image(images.image.id)
    layers = image.attrs["RootFS"]["Layers"] if image else []
    diff_ids = [d.removeprefix("sha256:")[:12] for d in layers]
    result.bytes_pushed = sum(
        int(layer.get("size", 0))
        for diff_id, layer in zip(diff_ids, manifest.get("layers", []), strict=False)
        if {diff_id, str(layer.get("digest", "")).removeprefix("sha256:")[:12]} & pushed
    )
    return result


def _push_with_retries(
    engine: Engine,
    remote: Registry,
    auth: dict[str, str] | None,
    name: str,
    tag: str,
    progress: Progress,
    result: PublishResult | None = None,
) -> _Push:
    delay = FIRST_BACKOFF
    for attempt in range(1, ATTEMPTS + 1):
        if result is not None:
            result.attempts += 1
        push = _Push(engine, remote, auth)
        push.run(name, tag, progress)
        if push.error is None and push.digest:
            return push
        message = push.error or "the push ended without a digest"
        if push_failure_kind(message) != "transient" or attempt == ATTEMPTS:
            raise push_failure(remote.host, message, attempt)
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
        manifest = verify_pushed(remote, repository, tag, result.digest)
        result.verified_layers = len(manifest.get("layers", []))
    return manifest


def push_image(
    engine: Engine,
    remote: Registry,
    repository: str,
    tag: str,
    image_id: str,
    settings: PublishSettings,
    progress: Progress,
) -> str:
    """Push an image that is not the site's (the certificate renewer a swarm runs) as
    REPOSITORY:TAG, verify it as a site's is verified, and return `REGISTRY/REPOSITORY@digest`."""
    name = f"{remote.host}/{repository}"
    auth = settings.credentials.as_auth_config() if settings.credentials else None
    with engine.errors(f"Tagging {name}:{tag}"):
        engine.client.images.get(image_id).tag(name, tag)
    with progress.step(f"Pushing {name}:{tag}"):
        push = _push_with_retries(engine, remote, auth, name, tag, progress)
        verify_pushed(remote, repository, tag, push.digest)
    return f"{name}@{push.digest}"


def pin_image(engine: Engine, reference: str) -> str:
    """`REPO:TAG` as `REPO@sha256:…`, from the digest the registry gave when it was pushed
    (or pulled) here; a reference that already has a digest is returned as it is."""
    if "@sha256:" in reference:
        return reference
    repository = reference.rsplit(":", 1)[0] if ":" in reference.rsplit("/", 1)[-1] else reference
    image = engine.find_image(reference)
    for digest in (image.attrs.get("RepoDigests") or []) if image else []:
        if str(digest).startswith(f"{repository}@"):
            return str(digest)
    raise ConfigError(
        f"--image: {reference} has no known digest here. Use the REPOSITORY@sha256:… that "
        "`sitedeploy publish` printed, or pull the image first."
    )
