"""An image sent from one engine to another over the connection we hold to it, without a
registry: `docker save | docker load`, with the layer files the other engine already has
left out (the nginx runtime's, after the first deploy: a redeploy sends the site's layer).

`docker load` looks each layer up by its chain before it reads the layer's file, so an
archive that names every layer but carries only the missing ones loads whole.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer.engine import Engine
from deployer.errors import ConfigError
from deployer.platforms import Platform
from deployer.progress import Progress


@dataclass(frozen=True)
class Sent:
    """What a transfer sent: how many layers (and bytes), and how many were there already."""

    reference: str
    layers_sent: int
    layers_there: int
    bytes_sent: int


def _diff_ids(engine: Engine, reference: str) -> list[str]:
    with engine.errors(f"Inspecting {reference}"):
        attrs = engine.client.images.get(reference).attrs
    return [str(layer) for layer in attrs.get("RootFS", {}).get("Layers") or []]


def layers_there(remote: Engine, diff_ids: list[str], repository: str) -> int:
    """How many of `diff_ids`, from the first, the remote engine has: the longest run any
    image of `repository` there shares with them (they all start with the runtime's)."""
    with remote.errors(f"Listing {repository} on {remote.host}"):
        images = remote.api.images(name=repository)
    best = 0
    for summary in images:
        theirs = _diff_ids(remote, str(summary["Id"]))
        shared = 0
        for ours, there in zip(diff_ids, theirs, strict=False):
            if ours != there:
                break
            shared += 1
        best = max(best, shared)
    return best


def _without(source: Path, target: Path, skipped: set[str]) -> None:
    """`source` (a `docker save` archive) copied to `target` without the files `skipped`."""
    with tarfile.open(source) as archive, tarfile.open(target, "w") as out:
        for member in archive:
            if member.name in skipped:
                continue
            out.addfile(member, archive.extractfile(member) if member.isfile() else None)


def save_image(local: Engine, reference: str, target: Path) -> dict[str, Any]:
    """`docker save` of `reference` into the file `target`; the archive's manifest entry
    (its `Config` file and `Layers` files, oldest first)."""
    with local.errors(f"Saving {reference}"), target.open("wb") as handle:
        for chunk in local.api.get_image(reference):
            handle.write(chunk)
    with tarfile.open(target) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
    return dict(manifest[0])


def save_partial(local: Engine, reference: str, known: int, target: Path) -> tuple[Path, int]:
    """`docker save` of `reference` into `target`, without the files of its first `known`
    layers; returns the archive and its size."""
    full = target.with_suffix(".full.tar")
    try:
        layers = list(save_image(local, reference, full)["Layers"])
        # a file the archive shares between a known layer and a later one stays
        _without(full, target, set(layers[:known]) - set(layers[known:]))
    finally:
        full.unlink(missing_ok=True)
    return target, target.stat().st_size


def check_streamable(local: Platform, server: Platform, host: str) -> None:
    """A streamed image is this engine's CPU's only: refuse a server on another CPU (the
    registry's index carries every CPU's image; the server pulls its own)."""
    if local != server:
        raise ConfigError(
            f"The server {host} runs on {server.name} and this engine builds {local.name} "
            "images: streamed, the site could not run there. Deploy through a registry "
            "([publish] registry and repository, or --registry/--repository): the index "
            f"publish pushes has a {server.name} image, which the server pulls. Nothing was "
            "changed on the server."
        )


def send_image(
    local: Engine, remote: Engine, reference: str, repository: str, progress: Progress
) -> Sent:
    """Make `reference` (a local image, with its tag) exist on `remote` too."""
    diff_ids = _diff_ids(local, reference)
    with local.errors(f"Inspecting {reference}"):
        image_id = str(local.client.images.get(reference).id)
    with remote.errors(f"Looking for {reference} on {remote.host}"):
        there = remote.client.images.list(name=reference.rsplit(":", 1)[0])
    if any(image.id == image_id for image in there):
        with remote.errors(f"Tagging {reference} on {remote.host}"):
            remote.client.images.get(image_id).tag(*reference.rsplit(":", 1))
        return Sent(reference, 0, len(diff_ids), 0)
    known = layers_there(remote, diff_ids, repository)
    with tempfile.TemporaryDirectory(prefix="sitedeploy-send-") as tmp:
        archive, size = save_partial(local, reference, known, Path(tmp) / "send.tar")
        progress.detail(
            f"sending {len(diff_ids) - known} of {len(diff_ids)} layers ({size // 1024} kB) "
            f"to {remote.host}"
        )
        with remote.errors(f"Loading {reference} on {remote.host}"), archive.open("rb") as data:
            remote.client.images.load(data)
    return Sent(reference, len(diff_ids) - known, known, size)
