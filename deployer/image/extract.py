"""Files out of images: the built `_site` copied out of the builder image (into the
user's cache folder, once per content), and single files read out of any image.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from docker.models.containers import Container

from deployer.built_site import BuiltSite, scan_built_site
from deployer.engine import Engine
from deployer.site import Site, cache_dir

BUILT_SITE_IN_IMAGE = "/site/_site"


class _ChunkReader:
    """A file-like view of docker-py's archive chunk generator, for tarfile's stream mode."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def extract_built_site(
    engine: Engine, builder_image: str, site: Site, content_hash: str, *, into: str = "_site"
) -> BuiltSite:
    """Copy `_site` out of the builder image into the cache folder `into` (once per content)."""
    return extract_build(engine, builder_image, site, content_hash, into=into)[0]


def extract_build(
    engine: Engine,
    builder_image: str,
    site: Site,
    content_hash: str,
    *,
    into: str = "_site",
    files: tuple[str, ...] = (),
) -> tuple[BuiltSite, dict[str, bytes]]:
    """`extract_built_site`, and the builder's `files` (such as /site/gems.tsv) read from
    the same container: one container, however much is read."""
    target = cache_dir(site) / into
    marker = cache_dir(site) / f"{into}.content-hash"
    fresh = target.is_dir() and marker.is_file() and marker.read_text().strip() == content_hash
    if fresh and not files:
        return scan_built_site(target), {}
    cache_dir(site).mkdir(parents=True, exist_ok=True)
    read: dict[str, bytes] = {}
    with engine.errors(f"Copying _site out of {builder_image}"):
        container = engine.client.containers.create(
            builder_image, command=["true"], labels=site.labels, network_disabled=True
        )
        try:
            if not fresh:
                chunks, _stat = container.get_archive(BUILT_SITE_IN_IMAGE)
                _unpack(chunks, target)
            read = {path: file_of(container, path) for path in files}
        finally:
            container.remove(force=True)
    marker.write_text(content_hash)
    return scan_built_site(target), read


def _unpack(chunks: Iterator[bytes], target: Path) -> None:
    """An archive of `_site` unpacked into `target`, replacing it whole."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".extract-") as tmp:
        reader = _ChunkReader(iter(chunks))
        with tarfile.open(fileobj=reader, mode="r|") as archive:  # type: ignore[call-overload]
            archive.extractall(tmp, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        (Path(tmp) / "_site").rename(target)


def file_of(container: Container, path: str) -> bytes:
    """One file out of a container (created or running, its mounts included); the caller
    holds `engine.errors`. FileNotFoundError if the archive holds no file."""
    chunks, _stat = container.get_archive(path)
    with tarfile.open(fileobj=_ChunkReader(iter(chunks)), mode="r|") as archive:  # type: ignore[call-overload]
        for member in archive:
            handle = archive.extractfile(member)
            if handle is not None:
                return bytes(handle.read())
    raise FileNotFoundError(path)


def discard_extracted(site: Site, into: str) -> None:
    """Remove a copy `extract_built_site` made (and its content marker)."""
    shutil.rmtree(cache_dir(site) / into, ignore_errors=True)
    (cache_dir(site) / f"{into}.content-hash").unlink(missing_ok=True)


def read_image_file(engine: Engine, image: str, path: str) -> bytes:
    """One file out of an image (which need not have a shell, or even a command)."""
    with engine.errors(f"Reading {path} out of {image}"):
        container = engine.client.containers.create(image, command=["/nonexistent"])
        try:
            return file_of(container, path)
        finally:
            container.remove(force=True)
