"""Find the base image a build stage starts from.

Resolution order: present locally → pulled → bootstrapped here from Debian packages.
Official images are used when they are present or pullable; the local bootstrap is the
fallback for machines that cannot reach a registry (ours), and its result is reused.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from deployer.debian import debian_suite
from deployer.engine import Engine
from deployer.errors import BaseImageError, EngineError
from deployer.image.bootstrap import bootstrap_debian
from deployer.labels import bootstrap_tag
from deployer.progress import Progress, follow_events


class Origin(enum.Enum):
    LOCAL = "local"
    PULLED = "pulled"
    BOOTSTRAPPED = "bootstrapped"


@dataclass(frozen=True)
class BaseImage:
    """A resolved base: what was asked for, what the Dockerfile uses, and where it came from."""

    requested: str
    reference: str  # the tag the rendered Dockerfile names
    image_id: str  # its config's digest: the same on every image store (`Engine.config_digest`)
    origin: Origin
    repo_digest: str | None = None
    labels: dict[str, str] = field(default_factory=dict)  # the image's own labels


def _local(engine: Engine, reference: str) -> str | None:
    image = engine.find_image(reference)
    return str(image.id) if image is not None else None


def _pull(engine: Engine, reference: str, progress: Progress) -> tuple[str | None, str]:
    """Pull `reference`; return (image id, '') or (None, why it failed)."""
    name, _, tag = reference.partition("@")[0].rpartition(":")
    if not name or "/" in tag:
        name, tag = reference, "latest"
    try:
        with engine.errors(f"Pulling {reference}"):
            log = follow_events(engine.api.pull(name, tag=tag, stream=True, decode=True), progress)
    except EngineError as error:
        return None, error.message
    if log.error:
        return None, log.error
    return _local(engine, reference), ""


def _described(engine: Engine, requested: str, reference: str, origin: Origin) -> BaseImage:
    """The resolved base with its id, first repo digest and labels, as the engine has them."""
    with engine.errors(f"Inspecting base image {reference}"):
        image = engine.client.images.get(reference)
    digests = image.attrs.get("RepoDigests") or []
    return BaseImage(
        requested=requested,
        reference=reference,
        image_id=engine.config_digest(image),
        origin=origin,
        # a stand-in made here was never in a registry (the containerd store and Podman
        # still give it a repo digest: its local manifest's)
        repo_digest=str(digests[0]) if digests and origin is not Origin.BOOTSTRAPPED else None,
        labels=dict(image.labels or {}),
    )


def present_or_pulled(
    engine: Engine, reference: str, progress: Progress
) -> tuple[BaseImage | None, str]:
    """`reference` if it is here or can be pulled, else (None, why it could not)."""
    if _local(engine, reference):
        return _described(engine, reference, reference, Origin.LOCAL), ""
    image_id, why = _pull(engine, reference, progress)
    if image_id:
        return _described(engine, reference, reference, Origin.PULLED), ""
    return None, why


def resolve_base(engine: Engine, reference: str, mirror: str, progress: Progress) -> BaseImage:
    """Make `reference` (or its bootstrapped stand-in) available; say where it came from."""
    found, why = present_or_pulled(engine, reference, progress)
    if found is not None:
        return found

    suite = debian_suite(reference)
    if suite is None:
        raise BaseImageError(
            f"Base image {reference} is not on this machine and could not be pulled ({why}). "
            "Only Debian images can be bootstrapped locally: set [images] in sitedeploy.toml "
            "(or --builder-image/--nginx-image) to a debian:<suite> image, or load the image "
            "with `docker load`."
        )
    stand_in = bootstrap_tag(suite)
    if not _local(engine, stand_in):
        with progress.step(
            f"Bootstrapping {stand_in} from Debian packages ({reference} could not be pulled)"
        ):
            bootstrap_debian(engine, suite, mirror, progress)
    return _described(engine, reference, stand_in, Origin.BOOTSTRAPPED)
