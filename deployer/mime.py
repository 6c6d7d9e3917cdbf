"""File types: the type the runtime's nginx sends for each extension, and the spellings
browsers take as the same type.

The table is declared once, in `docker/runtime/conf/mime.types` (nginx's newest with what
browsers need besides: `.mjs`, `.wasm`, `.webmanifest`, `.avif`, `.jxl`, …). The runtime
image serves with it and the check judges every served file by it, so the two cannot
drift apart.
"""

from __future__ import annotations

import functools
import posixpath
import re

from deployer.resources import docker_dir

MIME_TYPES = "runtime/conf/mime.types"

# Spellings of one type a browser treats alike: a check of any server (another host's
# copy, `check --url`) accepts each of them where our table names one.
_ALIKE = (
    {"text/javascript", "application/javascript", "application/x-javascript",
     "application/ecmascript", "text/ecmascript"},
    {"text/xml", "application/xml", "application/atom+xml", "application/rss+xml"},
    {"image/x-icon", "image/vnd.microsoft.icon"},
    {"font/woff", "application/font-woff"},
    {"font/woff2", "application/font-woff2"},
    {"font/ttf", "application/x-font-ttf", "application/font-sfnt"},
    {"font/otf", "application/x-font-otf", "application/font-sfnt"},
    {"application/manifest+json", "application/json"},
    {"application/yaml", "text/yaml", "application/x-yaml", "text/x-yaml"},
    {"text/markdown", "text/x-markdown"},
    {"image/x-ms-bmp", "image/bmp"},
    {"audio/wav", "audio/x-wav", "audio/wave"},
    {"audio/x-m4a", "audio/mp4"},
)  # fmt: skip
_STATEMENT = re.compile(r"([a-z0-9.+-]+/[a-z0-9.+-]+)\s+([^;{}]+);", re.IGNORECASE)


def parse_mime_types(text: str) -> dict[str, str]:
    """nginx's `types { TYPE ext …; }` as {".ext": TYPE}; raises on an extension named twice
    (nginx would warn and keep one of them)."""
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    table: dict[str, str] = {}
    for match in _STATEMENT.finditer(body):
        for extension in match.group(2).split():
            key = f".{extension.lower()}"
            if key in table:
                raise ValueError(f"{MIME_TYPES}: .{extension} is named twice")
            table[key] = match.group(1).lower()
    return table


@functools.cache
def served_types() -> dict[str, str]:
    """The runtime's table: {".ext": type}."""
    return parse_mime_types((docker_dir() / MIME_TYPES).read_text(encoding="utf-8"))


def served_type(path: str) -> str | None:
    """The type the runtime sends for `path`, by its extension (None: not in the table,
    so nginx sends its default, application/octet-stream)."""
    return served_types().get(posixpath.splitext(path)[1].lower())


def accepted_types(path: str) -> frozenset[str] | None:
    """The types a browser takes for `path`: ours, and its other spellings; None when the
    table has no entry for its extension (then it is not judged)."""
    ours = served_type(path)
    if ours is None:
        return None
    alike = [spellings for spellings in _ALIKE if ours in spellings]
    return frozenset({ours}.union(*alike))
