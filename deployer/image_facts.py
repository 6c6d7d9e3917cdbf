"""What an image is and weighs, counted the same way on every image store.

Docker's classic store names an image by its config's digest and counts its size as the
bytes of its files. Other stores do not: Docker's containerd image store names it by its
manifest's digest and reports compressed bytes (and disk blocks in `docker history`);
Podman counts its layers' tar streams. Where the engine's own answers are not these
measures, they are read from the image itself (`docker save`): the config's digest from
the config file, and each layer's bytes counted from its tar as the classic store counts
them — regular files by size, symbolic links by the length of their target (what `lstat`
says), a hard-linked file once; directories, devices and whiteouts count nothing.
Each image is read once per machine (`FactsCache`).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

GZIP_MAGIC = b"\x1f\x8b"
_BLOB_NAME = re.compile(r"(?:^|/)([0-9a-f]{64})(?:\.tar)?$")
_SMALL = 1 << 20  # configs and manifests are kept whole; layers are counted as they stream
KEPT_IMAGES = 256
KEPT_LAYERS = 2048


@dataclass(frozen=True)
class ImageFacts:
    """An image as the classic store would describe it."""

    config_digest: str  # sha256:… of its config: the image's id on Docker's classic store
    layer_bytes: tuple[int, ...]  # per layer (oldest first): the bytes of its files
    history: tuple[tuple[str, bool], ...]  # per history entry: created_by, adds a layer

    @property
    def size(self) -> int:
        return sum(self.layer_bytes)

    def history_sizes(self) -> list[tuple[str, int]]:
        """Each history entry with the bytes of the layer it added (0 for none)."""
        sizes = iter(self.layer_bytes)
        return [(created_by, next(sizes, 0) if layer else 0) for created_by, layer in self.history]


@contextlib.contextmanager
def uncompressed(saved: IO[bytes]) -> Iterator[IO[bytes]]:
    """A layer file as a tar stream, whether `docker save` wrote it as it is or gzipped
    (the containerd store saves the compressed blobs it keeps)."""
    stream = saved if isinstance(saved, io.BufferedReader) else io.BufferedReader(cast(Any, saved))
    if stream.peek(2)[:2] == GZIP_MAGIC:
        with gzip.GzipFile(fileobj=stream) as unpacked:
            yield cast(IO[bytes], unpacked)
    else:
        yield stream


def file_bytes(layer: IO[bytes]) -> int:
    """The bytes of a layer's files (a tar, compressed or not), counted as the classic
    store counts them."""
    total = 0
    with tarfile.open(fileobj=layer, mode="r|*") as archive:
        for member in archive:
            if member.name.rsplit("/", 1)[-1].startswith(".wh."):
                continue
            if member.isreg():
                total += member.size
            elif member.issym():
                total += len(member.linkname.encode())
    return total


class FactsCache:
    """Facts and layer counts remembered on this machine: an image's by its id on its
    engine (a digest, so its content never changes), a layer's by the digest of the file
    `docker save` wrote for it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = {}
        self.layers: dict[str, int] = dict(stored.get("layers") or {})
        self.images: dict[str, Any] = dict(stored.get("images") or {})

    def image(self, image_id: str) -> ImageFacts | None:
        found = self.images.get(image_id)
        if not found:
            return None
        return ImageFacts(
            config_digest=str(found["config_digest"]),
            layer_bytes=tuple(int(n) for n in found["layer_bytes"]),
            history=tuple((str(c), bool(layer)) for c, layer in found["history"]),
        )

    def remember(self, image_id: str, facts: ImageFacts) -> None:
        """Keep `facts` (and the layer counts read with them); the oldest go first beyond
        KEPT_IMAGES images and KEPT_LAYERS layers (each build makes new ones)."""
        self.images.pop(image_id, None)
        self.images[image_id] = {
            "config_digest": facts.config_digest,
            "layer_bytes": list(facts.layer_bytes),
            "history": [list(entry) for entry in facts.history],
        }
        self.images = dict(list(self.images.items())[-KEPT_IMAGES:])
        self.layers = dict(list(self.layers.items())[-KEPT_LAYERS:])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = f"{os.getpid()}.{threading.get_ident()}"
        partial = self.path.with_name(f"{self.path.name}.{writer}.partial")
        partial.write_text(json.dumps({"layers": self.layers, "images": self.images}))
        partial.replace(self.path)


def image_facts(image_id: str, save: Callable[[], Iterable[bytes]], cache: Path) -> ImageFacts:
    """The facts of the image `image_id`, from `cache` or counted from `save()`."""
    known = FactsCache(cache)
    facts = known.image(image_id)
    if facts is None:
        facts = facts_from_save(save(), known.layers)
        known.remember(image_id, facts)
    return facts


def facts_from_save(chunks: Iterable[bytes], counts: dict[str, int]) -> ImageFacts:
    """The facts of the one image a `docker save` stream holds (either layout: Docker's
    or the OCI layout the containerd store writes)."""
    small: dict[str, bytes] = {}
    counted: dict[str, int] = {}
    with tarfile.open(fileobj=_ChunkReader(chunks), mode="r|") as archive:
        for member in archive:
            if not member.isreg():
                continue
            blob = _BLOB_NAME.search(member.name)
            if blob and blob.group(1) in counts:
                counted[member.name] = counts[blob.group(1)]
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            if member.size <= _SMALL:  # JSON, or a small layer counted below if it is one
                small[member.name] = handle.read()
                continue
            counted[member.name] = file_bytes(handle)
            if blob:
                counts[blob.group(1)] = counted[member.name]
    manifest = json.loads(small["manifest.json"])[0]
    for name in manifest["Layers"]:
        if name not in counted:
            counted[name] = file_bytes(io.BytesIO(small[name]))
            blob = _BLOB_NAME.search(name)
            if blob:
                counts[blob.group(1)] = counted[name]
    config_bytes = small[manifest["Config"]]
    config: dict[str, Any] = json.loads(config_bytes)
    history = tuple(
        (str(entry.get("created_by") or ""), not entry.get("empty_layer", False))
        for entry in config.get("history") or []
    )
    return ImageFacts(
        config_digest=f"sha256:{hashlib.sha256(config_bytes).hexdigest()}",
        layer_bytes=tuple(counted[name] for name in manifest["Layers"]),
        history=history,
    )


class _ChunkReader(io.RawIOBase):
    """A file over the chunks docker-py streams."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._rest = chunk
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size
