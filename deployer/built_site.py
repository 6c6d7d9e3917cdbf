"""The built `_site`: its files, listed and hashed.

The health check compares what nginx serves with these bytes, so they are taken from the
image Jekyll built them in (image/extract.py copies them into the user's cache folder,
`~/.cache/sitedeploy/<site id>/_site`), not rebuilt; the site folder is not touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from deployer.digests import file_sha256

HOT_SITE = "_site-hot"  # `up --watch`: the served files of the hot edits, in the cache folder


@dataclass(frozen=True)
class BuiltFile:
    path: str  # relative to the site root, '/'-separated
    size: int
    sha256: str


@dataclass(frozen=True)
class BuiltSite:
    root: Path
    files: tuple[BuiltFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def paths(self) -> frozenset[str]:
        return frozenset(f.path for f in self.files)


def scan_built_site(root: Path) -> BuiltSite:
    """List every regular file under `root` with its size and sha256."""
    files = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            full = Path(folder) / name
            if full.is_symlink() or not full.is_file():
                continue
            relative = full.relative_to(root).as_posix()
            files.append(BuiltFile(relative, full.stat().st_size, file_sha256(full)))
    return BuiltSite(root=root, files=tuple(sorted(files, key=lambda f: f.path)))
