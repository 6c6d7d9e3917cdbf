"""The recipe of an image beside its history: which instruction made which layer.

Both rendered Dockerfiles (the runtime's and the site's) travel in the image's labels, so
this works on an image pulled from a registry too. Pure functions over text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class RecipeLine:
    instruction: str | None  # from the rendered Dockerfile
    created_by: str | None  # from the image history
    size: int
    matches: bool


def _logical_lines(dockerfile: str) -> list[str]:
    """Instructions with continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in dockerfile.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(" ".join((current + stripped).split()))
        current = ""
    return lines


def stage_instructions(dockerfile: str, stage: str) -> list[str]:
    """The instructions of the stage named `stage`, without its FROM line."""
    found: list[str] | None = None
    for line in _logical_lines(dockerfile):
        if line.upper().startswith("FROM "):
            if found is not None:
                break
            if re.search(rf"\s+AS\s+{re.escape(stage)}$", line, re.IGNORECASE):
                found = []
            continue
        if found is not None and not line.upper().startswith("ARG "):
            found.append(line)
    return found or []


def _key(text: str) -> str:
    """What an instruction and its history entry have in common, whichever builder made it."""
    text = text.replace("/bin/sh -c #(nop) ", "").replace(" # buildkit", "").strip()
    keyword, _, rest = text.partition(" ")
    keyword = keyword.upper()
    quoted = re.findall(r'"((?:[^"\\]|\\.)*)"', rest)
    if keyword in {"COPY", "ADD"}:
        return f"{keyword} {rest.split()[-1].rstrip('/') if rest.split() else ''}"
    if keyword == "EXPOSE":
        return "EXPOSE " + " ".join(sorted(re.findall(r"\d+", rest)))
    if keyword in {"ENTRYPOINT", "CMD"}:
        return f"{keyword} {' '.join(quoted)}"
    if keyword == "HEALTHCHECK":
        return "HEALTHCHECK " + next((q for q in quoted if q.startswith("/")), rest)
    return f"{keyword} {' '.join(rest.split())}"


def pair_recipe(instructions: list[str], history: list[tuple[str, int]]) -> list[RecipeLine]:
    """History entries (oldest first) paired with the instructions that made them."""
    lines: list[RecipeLine] = []
    remaining = list(instructions)
    for created_by, size in history:
        key = _key(created_by)
        match = next((i for i, text in enumerate(remaining) if _key(text) == key), None)
        if match is None:
            lines.append(RecipeLine(None, created_by, size, False))
            continue
        for skipped in remaining[:match]:  # instructions that left no history entry
            lines.append(RecipeLine(skipped, None, 0, False))
        lines.append(RecipeLine(remaining[match], created_by, size, True))
        remaining = remaining[match + 1 :]
    lines.extend(RecipeLine(text, None, 0, False) for text in remaining)
    return lines
