"""Debian's release names, as official image references spell them."""

from __future__ import annotations

import re

_DEBIAN_VERSIONS = {"10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie"}
_DEBIAN_REF = re.compile(r"^(?:docker\.io/)?(?:library/)?debian:(?P<tag>[a-z0-9.]+)(?:-[\w.-]+)?$")


def debian_suite(reference: str) -> str | None:
    """The Debian suite an official Debian reference names: `debian:12-slim` -> `bookworm`."""
    match = _DEBIAN_REF.match(reference)
    if not match:
        return None
    tag = match.group("tag")
    return _DEBIAN_VERSIONS.get(tag.split(".")[0], tag) if tag[0].isdigit() else tag
