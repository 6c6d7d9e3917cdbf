"""The build context: the site folder, filtered the way a `.dockerignore` filters it.

One list of patterns (`ignore_patterns`) serves both builders: BuildKit reads it from a
`Dockerfile.dockerignore` beside the rendered Dockerfile, the classic builder gets a tar we
make with the same patterns through docker-py's own `.dockerignore` matcher. The scan also
yields the content hash that names an image, so an unchanged site is never rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from docker.utils.build import PatternMatcher, create_archive
from rich.filesize import decimal

from deployer.digests import feed_file
from deployer.errors import ContextError

# Never part of a build: Jekyll's outputs and caches, VCS data, dependency folders, and
# sitedeploy's own settings (changing the preview port must not rebuild the site).
DEFAULT_IGNORES = (
    "_site",
    ".jekyll-cache",
    ".jekyll-metadata",
    ".sass-cache",
    ".git",
    ".hg",
    ".svn",
    "vendor",
    "node_modules",
    ".bundle",
    "Gemfile.lock",
    "sitedeploy.toml",
)

# Past this, sending the context is refused before anything reaches the daemon.
MAX_CONTEXT_BYTES = 1024**3
WARN_CONTEXT_BYTES = 200 * 1024**2


@dataclass(frozen=True)
class ContextFile:
    path: str  # relative, with forward slashes
    size: int


@dataclass(frozen=True)
class BuildContext:
    """The files that go to the daemon, and what they hash to."""

    root: Path
    patterns: tuple[str, ...]
    entries: tuple[str, ...]  # every path sent (files, folders, links), relative
    files: tuple[ContextFile, ...]
    content_hash: str  # sha256 hex of names, kinds and bytes
    warnings: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def dockerignore(self) -> str:
        """The patterns as a `.dockerignore` text."""
        return "\n".join(self.patterns) + "\n"

    def write_tar(self, fileobj: IO[bytes], extra_files: list[tuple[str, str]]) -> None:
        """Write the context as a tar (for the classic builder), with generated files added."""
        create_archive(
            root=str(self.root), files=list(self.entries), fileobj=fileobj, extra_files=extra_files
        )


def _escape(path: str) -> str:
    return re.sub(r"([*?\[\\])", r"\\\1", path)


def _walk(root: Path, patterns: list[str]) -> list[str]:
    return list(PatternMatcher(patterns).walk(str(root)))


def _site_patterns(root: Path) -> list[str]:
    own = root / ".dockerignore"
    if not own.is_file():
        return []
    lines = own.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _hash(root: Path, entries: list[str]) -> str:
    """sha256 over every entry's name, kind, mode bit and bytes (link targets for links)."""
    digest = hashlib.sha256()
    for relative in entries:
        full = root / relative
        name = relative.replace(os.sep, "/")
        if full.is_symlink():
            digest.update(f"L {name}\0{full.readlink()}\0".encode())
        elif full.is_dir():
            digest.update(f"D {name}\0".encode())
        elif full.is_file():
            executable = os.access(full, os.X_OK)
            digest.update(f"F {name}\0{full.stat().st_size}\0{int(executable)}\0".encode())
            feed_file(digest, full)
    return digest.hexdigest()


def scan_context(root: Path, keep: tuple[str, ...] = ()) -> BuildContext:
    """List and hash what a build of `root` sends; raise ContextError if it is too large.

    Sizes are checked before any file is read, so a 2 GB file is refused at once.
    Symbolic links that point outside the folder are left out with a warning: inside the
    build they would resolve to the builder's own files (a link to /etc/passwd would
    publish the builder's /etc/passwd). `keep` names default ignores this build needs
    (a Bundler build needs Gemfile.lock).
    """
    patterns = [*(p for p in DEFAULT_IGNORES if p not in keep), *_site_patterns(root)]
    warnings: list[str] = []
    files: list[ContextFile] = []
    entries: list[str] = []
    resolved_root = root.resolve()
    for relative in sorted(_walk(root, patterns)):
        full = root / relative
        name = relative.replace(os.sep, "/")
        if full.is_symlink():
            target = full.resolve()
            if target != resolved_root and resolved_root not in target.parents:
                warnings.append(
                    f"{name} is a symbolic link to {full.readlink()}, outside the site "
                    "folder; it is left out of the build. Copy the file into the site instead."
                )
                patterns.append(_escape(name))
                continue
        elif full.is_file():
            files.append(ContextFile(name, full.stat().st_size))
        entries.append(relative)

    context = BuildContext(root, tuple(patterns), tuple(entries), tuple(files), "", ())
    total = context.total_bytes
    largest = ", ".join(
        f"{f.path} ({decimal(f.size)})" for f in sorted(files, key=lambda f: -f.size)[:5]
    )
    if total > MAX_CONTEXT_BYTES:
        raise ContextError(
            f"The site folder {root} would send {decimal(total)} to the Docker daemon "
            f"(limit {decimal(MAX_CONTEXT_BYTES)}). Largest files: {largest}. Move large "
            "files out of the site, or list them in the site's .dockerignore."
        )
    if total > WARN_CONTEXT_BYTES:
        warnings.append(f"The build context is {decimal(total)}; largest files: {largest}.")
    return replace(context, content_hash=_hash(root, entries), warnings=tuple(warnings))
