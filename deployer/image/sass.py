"""Sass that only Dart Sass compiles, found before building.

Debian's Jekyll compiles Sass with libsass (jekyll-sass-converter 2), which has no module
system: `@use`, `@forward` and the built-in `sass:` modules (`math.div` …) fail deep inside
`jekyll build`. We look for them first and name every file and line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from deployer.errors import SassUnsupported

_SKIPPED_FOLDERS = {"_site", ".jekyll-cache", ".sass-cache", ".git", "node_modules", "vendor"}
_DART_ONLY = (
    (re.compile(r"^\s*@use\s"), "@use"),
    (re.compile(r"^\s*@forward\s"), "@forward"),
    (re.compile(r"""["']sass:[a-z]+["']|\b(?:math|string|map|list|color|meta)\.[a-z-]+\("""),
     "a built-in sass: module"),
)  # fmt: skip
_SHOWN = 10


def dart_sass_only(site_dir: Path) -> list[str]:
    """`path:line: uses @use` for every line of the site's Sass that libsass cannot compile."""
    found = []
    for folder, dirs, names in os.walk(site_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_FOLDERS)
        for name in sorted(names):
            if not name.endswith((".scss", ".sass")):
                continue
            path = Path(folder) / name
            text = path.read_text(encoding="utf-8", errors="replace")
            for number, line in enumerate(text.splitlines(), start=1):
                code = line.split("//", 1)[0]
                for pattern, what in _DART_ONLY:
                    if pattern.search(code):
                        found.append(f"{path.relative_to(site_dir)}:{number}: uses {what}")
                        break
    return found


def check_sass(site_dir: Path) -> None:
    """Raise SassUnsupported, naming every file and line, if the site needs Dart Sass."""
    found = dart_sass_only(site_dir)
    if not found:
        return
    shown = "\n".join(f"  {line}" for line in found[:_SHOWN])
    more = f"\n  … and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
    raise SassUnsupported(
        f"The site's Sass is written for Dart Sass, which Debian's Jekyll does not have "
        f"(it compiles with libsass):\n{shown}{more}\n"
        "Rewrite these with @import (and `/` or percentage() for math.div), or build with "
        "jekyll-sass-converter 3 (Dart Sass), which Debian does not package."
    )
