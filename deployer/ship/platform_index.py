"""One image for several CPUs: an OCI image index in the registry.

The engine builds and pushes the site's image for its own CPU (ship/publish.py). For each
other CPU the image is the same site layers on that CPU's runtime (image/runtime.py
builds it from Debian's packages), so it is composed here, in the registry, without
building or running anything: the runtime's layer is uploaded once (gzip, kept in the
user's cache, so a later publish only asks whether the registry has it); the image config
is the engine-built one with that CPU's name, runtime layer, history and labels; the
site's layers are the very blobs already pushed (same digests). An OCI index names every
platform's manifest; every tag points at it, and its digest is what `publish` reports.
Then each manifest is read back through the registry's API with every blob it names.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.digests import blob_digest
from deployer.engine import Engine
from deployer.errors import RegistryError
from deployer.image_facts import uncompressed
from deployer.platforms import Platform
from deployer.provenance.sbom import platform_labels
from deployer.ship.registry import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Registry,
    verify_pushed,
)
from deployer.ship.transfer import save_image


@dataclass(frozen=True)
class RuntimeParts:
    """A runtime image as a registry holds it: its config, its layers gzipped (cached)."""

    config_digest: str
    config: dict[str, Any]
    layers: tuple[Path, ...]


@dataclass(frozen=True)
class PlatformImage:
    """One platform's manifest in the index."""

    platform: str
    digest: str
    layers: int
    compressed_bytes: int  # what a pull of this platform downloads
    config_digest: str  # the image's id where it runs
    labels: dict[str, str] = field(default_factory=dict, repr=False)  # as read back

    def as_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "digest": self.digest,
            "layers": self.layers,
            "compressed_bytes": self.compressed_bytes,
        }


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": blob_digest(data), "size": len(data)}


def _gzipped(layer: tarfile.TarFile, name: str, cache: Path) -> Path:
    """The layer file `name` of a saved image (as it is or, from the containerd store,
    gzipped already), gzipped once into `cache` by its diff id."""
    saved = layer.extractfile(name)
    if saved is None:
        raise RegistryError(f"The saved runtime image has no layer file {name}; build it again.")
    digest = hashlib.sha256()
    cache.mkdir(parents=True, exist_ok=True)
    with (
        uncompressed(saved) as source,
        tempfile.NamedTemporaryFile(dir=cache, delete=False) as partial,
        gzip.GzipFile(fileobj=partial, mode="wb", mtime=0) as packed,
    ):
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
            packed.write(chunk)
    target = cache / f"{digest.hexdigest()}.tar.gz"
    Path(partial.name).replace(target)
    return target


def runtime_parts(engine: Engine, reference: str, cache: Path) -> RuntimeParts:
    """The config and gzipped layers of a local runtime image (`docker save`, read once;
    its layers are then found in `cache` by diff id)."""
    with engine.errors(f"Inspecting {reference}"):
        image = engine.client.images.get(reference)
    diff_ids = [str(d).removeprefix("sha256:") for d in image.attrs["RootFS"]["Layers"]]
    config_file = cache / f"{str(image.id).removeprefix('sha256:')}.json"
    cached = [cache / f"{d}.tar.gz" for d in diff_ids]
    if config_file.is_file() and all(path.is_file() for path in cached):
        config_bytes = config_file.read_bytes()
        return RuntimeParts(blob_digest(config_bytes), json.loads(config_bytes), tuple(cached))
    with tempfile.TemporaryDirectory(prefix="sitedeploy-save-") as tmp:
        saved = Path(tmp) / "image.tar"
        manifest = save_image(engine, reference, saved)
        with tarfile.open(saved) as archive:
            config = archive.extractfile(manifest["Config"])
            config_bytes = config.read() if config else b"{}"
            layers = tuple(_gzipped(archive, name, cache) for name in manifest["Layers"])
    if [path.name.removesuffix(".tar.gz") for path in layers] != diff_ids:
        raise RegistryError(f"The saved layers of {reference} are not its own; build it again.")
    config_file.write_bytes(config_bytes)
    return RuntimeParts(blob_digest(config_bytes), json.loads(config_bytes), layers)


def _as_oci(manifest: dict[str, Any]) -> dict[str, Any]:
    """An image manifest the engine pushed (Docker's media types), as an OCI manifest of
    the same config and layer blobs."""
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {**manifest["config"], "mediaType": OCI_CONFIG},
        "layers": [{**layer, "mediaType": OCI_LAYER} for layer in manifest["layers"]],
    }


_COPIED = re.compile(r"\b(dir|file|multi):[0-9a-f]{64}\b")
_LABELLED = re.compile(r"(?:^|#\(nop\) )LABEL ")


def _recipe(history: list[dict[str, Any]]) -> list[str]:
    """History's instructions as one recipe reads on every CPU: without what the classic
    builder and Podman add to a COPY (the digest of what was copied: each CPU's runtime
    copies its own files) and without the steps that record build labels (each CPU's say
    which CPU it is; Podman 5 writes them in no fixed order)."""
    steps = (str(entry.get("created_by") or "") for entry in history)
    return [_COPIED.sub(r"\1:…", step) for step in steps if not _LABELLED.search(step)]


def _composed_config(
    native: dict[str, Any], runtime: RuntimeParts, native_runtime: dict[str, str], target: Platform
) -> dict[str, Any]:
    """The site image's config with `runtime` (another CPU's) in place of the engine's."""
    kept = len(runtime.config["rootfs"]["diff_ids"])
    steps = len(runtime.config.get("history") or [])
    ours = _recipe(runtime.config.get("history") or [])
    theirs = _recipe((native.get("history") or [])[:steps])
    if ours != theirs:  # both runtimes come from one recipe; anything else is not ours
        raise RegistryError(
            f"The {target.name} runtime's recipe differs from the one the site image was built "
            "on; run `sitedeploy publish` again (it rebuilds what is out of date)."
        )
    config = {key: value for key, value in native.items() if key != "variant"}
    config.update(target.as_oci())
    config["rootfs"] = {
        "type": "layers",
        "diff_ids": runtime.config["rootfs"]["diff_ids"] + native["rootfs"]["diff_ids"][kept:],
    }
    config["history"] = runtime.config["history"] + native["history"][steps:]
    settings = dict(native.get("config") or {})
    settings["Labels"] = platform_labels(
        dict(settings.get("Labels") or {}),
        native_runtime,
        dict((runtime.config.get("config") or {}).get("Labels") or {}),
        runtime.config_digest,
    )
    config["config"] = settings
    return config


def _compact(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _put_manifest(remote: Registry, repository: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Store an OCI image manifest by its digest; its descriptor."""
    body = _compact(manifest)
    remote.put_manifest(repository, blob_digest(body), body, OCI_MANIFEST)
    return _descriptor(OCI_MANIFEST, body)


def push_index(
    remote: Registry,
    repository: str,
    tags: list[str],
    native: Platform,
    pushed_digest: str,
    native_runtime: dict[str, str],
    others: dict[Platform, RuntimeParts],
    include_native: bool = True,
) -> tuple[str, list[PlatformImage]]:
    """Compose each other platform's image beside the pushed one (`pushed_digest`), push
    one index naming them all under every tag, read it all back; (index digest, images)."""
    _, pushed = remote.manifest(repository, pushed_digest)
    native_config = json.loads(remote.blob(repository, pushed["config"]["digest"]))
    native_manifest = _as_oci(pushed)
    entries: list[tuple[Platform, dict[str, Any]]] = []
    if include_native:
        entries.append((native, _put_manifest(remote, repository, native_manifest)))
    for target, runtime in others.items():
        runtime_layers = []
        for path in runtime.layers:
            data = path.read_bytes()
            remote.put_blob(repository, data)
            runtime_layers.append(_descriptor(OCI_LAYER, data))
        kept = len(runtime.config["rootfs"]["diff_ids"])
        config = _compact(_composed_config(native_config, runtime, native_runtime, target))
        remote.put_blob(repository, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": _descriptor(OCI_CONFIG, config),
            "layers": runtime_layers + native_manifest["layers"][kept:],
        }
        entries.append((target, _put_manifest(remote, repository, manifest)))
    index = _compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{**entry, "platform": target.as_oci()} for target, entry in entries],
        }
    )
    for tag in tags:
        remote.put_manifest(repository, tag, index, OCI_INDEX)
    digest = blob_digest(index)
    return digest, _read_back(remote, repository, tags, digest, entries)


def _read_back(
    remote: Registry,
    repository: str,
    tags: list[str],
    digest: str,
    entries: list[tuple[Platform, dict[str, Any]]],
) -> list[PlatformImage]:
    """Every tag names the index; every platform's manifest and its blobs are there."""
    for tag in tags:
        found, _ = remote.manifest(repository, tag)
        if found != digest:
            raise RegistryError(
                f"Registry {remote.host}: {repository}:{tag} has digest {found or 'none'}, not "
                f"the index {digest} just pushed. Run publish again."
            )
    images = []
    for target, entry in entries:
        manifest = verify_pushed(remote, repository, entry["digest"], entry["digest"])
        layers = manifest.get("layers", [])
        size = sum(int(layer.get("size", 0)) for layer in layers)
        config_digest = str(manifest["config"]["digest"])
        config = json.loads(remote.blob(repository, config_digest))
        if (config.get("os"), config.get("architecture")) != (target.os, target.architecture):
            raise RegistryError(
                f"Registry {remote.host}: the {target.name} image of {repository} reads back "
                f"as {config.get('os')}/{config.get('architecture')}. Run publish again."
            )
        labels = dict((config.get("config") or {}).get("Labels") or {})
        images.append(
            PlatformImage(target.name, entry["digest"], len(layers), size, config_digest, labels)
        )
    return images


def remember_index(
    engine: Engine, name: str, pushed: str, index: str | None, auth: dict[str, str] | None
) -> None:
    """Make the local image answer to the index's digest instead of the single manifest's
    the engine pushed (what `k8s`, `deploy` and `pin_image` read back as "published from
    here"): a pull of `name@index` finds every layer here and downloads none. `index`
    None: the index has no image for this engine's CPU; the stale name is only dropped."""
    with engine.errors(f"Naming the local image {name}@{index or pushed}"):
        if index is not None:
            engine.api.pull(name, tag=index, auth_config=auth)
    # Docker keeps a name for the digest it pushed, and drops it. Podman derives its names
    # from the manifests it holds: it has none to drop.
    if not engine.kind.podman and engine.find_image(f"{name}@{pushed}") is not None:
        with engine.errors(f"Dropping the name {name}@{pushed}"):
            engine.api.remove_image(f"{name}@{pushed}", noprune=True)
