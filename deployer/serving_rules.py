"""What sitedeploy never serves, and what it precompresses — declared once.

The pack stage of the Dockerfile removes never-served files from the image (the find
expression is rendered from these globs), nginx refuses them again by regex in case one
slips through, and the health check skips them in `_site` with a warning instead of
expecting a 200.
"""

from __future__ import annotations

import fnmatch
import shlex

# Any path component matching one of these is never served; `.well-known` is allowed.
NEVER_SERVED = (".*", "*~", "*.swp", "*.swo", "*.bak", "*.orig", "*.tmp", "#*#")
ALWAYS_ALLOWED = (".well-known",)

# Text formats worth a .gz and .br beside them (images and fonts are compressed already).
COMPRESSIBLE = (
    "*.html", "*.htm", "*.css", "*.js", "*.mjs", "*.json", "*.xml", "*.svg", "*.txt",
    "*.map", "*.webmanifest", "*.ico", "*.rss", "*.atom", "*.md", "*.csv", "*.wasm",
)  # fmt: skip
COMPRESS_MIN_BYTES = 256


def never_served(path: str) -> bool:
    """True if nginx will refuse `path` (relative to the site root, '/'-separated)."""
    for part in path.split("/"):
        if part in ALWAYS_ALLOWED:
            continue
        if any(fnmatch.fnmatchcase(part, glob) for glob in NEVER_SERVED):
            return True
    return False


def _find_names(globs: tuple[str, ...]) -> str:
    return " -o ".join(f"-name {shlex.quote(glob)}" for glob in globs)


def never_served_find() -> str:
    """A `find` expression matching never-served names (to prune), sparing .well-known."""
    allowed = " ".join(f"! -name {shlex.quote(name)}" for name in ALWAYS_ALLOWED)
    return f"\\( {_find_names(NEVER_SERVED)} \\) {allowed}"


def compressible_globs() -> str:
    """The compressible globs as shell arguments (for the pack stage's precompressor)."""
    return " ".join(shlex.quote(glob) for glob in COMPRESSIBLE)
