"""sha256 of files, read in chunks (a rootfs tarball or a site's video need not fit in memory),
of build inputs, and of blobs as registries name them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024


def feed_file(digest: Any, path: Path) -> None:
    """Add a file's bytes to a running hashlib digest."""
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    feed_file(digest, path)
    return digest.hexdigest()


def inputs_hash(*parts: str) -> str:
    """sha256 hex over strings, each ended by NUL, so ("ab", "c") and ("a", "bc") differ:
    how an image's inputs become its tag."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def blob_digest(data: bytes) -> str:
    """A blob's digest as registries and OCI descriptors write it: `sha256:<hex>`."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"
