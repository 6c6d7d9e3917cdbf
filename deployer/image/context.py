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
# sitedeploy's own settings (changing the preview port must not rebuild the site) — unless
# the build needs one of them (`needed_ignores`).
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

# Why each default is left out, said once with -v.
WHY_LEFT_OUT = {
    "_site": "Jekyll's output",
    ".jekyll-cache": "Jekyll's cache (the build keeps its own)",
    ".jekyll-metadata": "Jekyll's cache",
    ".sass-cache": "Sass's cache",
    ".git": "version control",
    ".hg": "version control",
    ".svn": "version control",
    "vendor": "installed gems (the build installs its own)",
    "vendor (but vendor/cache)": "installed gems (the build installs its own)",
    "node_modules": "nothing the build reads imports from it",
    ".bundle": "Bundler's local settings",
    "Gemfile.lock": "the gems come from Debian's packages",
    "sitedeploy.toml": "sitedeploy's settings, not the site's",
}

_SASS_IMPORT = re.compile(r"""@(?:import|use|forward)\s+["']~?([^"']+)["']""")


def needed_ignores(root: Path, jekyll: dict[str, object], *, bundler: bool) -> dict[str, str]:
    """The default ignores this site's build needs, each with why: Gemfile.lock for Bundler,
    node_modules when the Sass imports from it (a load path, `node_modules/…`, or a
    package's own name) or `include:` brings it into the site."""
    needed: dict[str, str] = {}
    if bundler and (root / "Gemfile.lock").is_file():
        needed["Gemfile.lock"] = "Bundler installs it exactly"
    if bundler and any((root / "vendor" / "cache").glob("*.gem")):
        needed["vendor/cache"] = "Bundler installs the site's gems from it, offline"
    modules = root / "node_modules"
    if not modules.is_dir():
        return needed
    sass = jekyll.get("sass")
    load_paths = sass.get("load_paths") if isinstance(sass, dict) else None
    if any("node_modules" in str(path) for path in load_paths or []):
        needed["node_modules"] = "a Sass load path in _config.yml is there"
        return needed
    include = jekyll.get("include")
    if isinstance(include, list) and any("node_modules" in str(path) for path in include):
        needed["node_modules"] = "_config.yml includes it in the site"
        return needed
    packages = {entry.name for entry in modules.iterdir()}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in DEFAULT_IGNORES]
        for name in names:
            if not name.endswith((".scss", ".sass")):
                continue
            text = (Path(folder) / name).read_text(encoding="utf-8", errors="replace")
            for imported in _SASS_IMPORT.findall(text):
                first = imported.removeprefix("node_modules/").split("/")[0]
                if imported.startswith("node_modules/") or first in packages:
                    needed["node_modules"] = f"{name} imports {imported!r} from it"
                    return needed
    return needed


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
    # A kept default is dropped from the patterns; a kept folder inside one (vendor/cache in
    # vendor) comes back as an exception after it.
    patterns = [
        *(p for p in DEFAULT_IGNORES if p not in keep),
        *(f"!{p}" for p in keep if p not in DEFAULT_IGNORES),
        *_site_patterns(root),
    ]
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


def left_out_text(root: Path, needed: dict[str, str]) -> str:
    """One line for -v: what the build context leaves out of the site folder, and why."""
    present = [name for name in DEFAULT_IGNORES if (root / name).exists() and name not in needed]
    if "vendor/cache" in needed and "vendor" in present:
        present.remove("vendor")
        if any(p.name != "cache" for p in (root / "vendor").iterdir()):
            present.append("vendor (but vendor/cache)")
    parts = [f"{name} ({WHY_LEFT_OUT[name]})" for name in present]
    kept = [f"{name} ({why})" for name, why in needed.items()]
    text = f"Left out of the build: {', '.join(parts) or 'nothing'}."
    return f"{text} Kept: {', '.join(kept)}." if kept else text
