"""How far the Debian fallback is from the site's own gems, said in one line.

The Debian way builds with Debian's Jekyll, Liquid and plugins, which can be years from
what a site's Gemfile.lock pins (or its Gemfile asks for): a docs site locked to Jekyll
3.10 and Liquid 4 gets Jekyll 4.3.1 and Liquid 5. When the build or its check then fails,
the difference is the first suspect, so it is said once, after the build, and with a
failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

_LOCK_SPEC = re.compile(r"^    ([A-Za-z0-9_.-]+) \(([^)\s]+)\)\s*$", re.MULTILINE)
_GEMFILE_GEM = re.compile(r"""^\s*gem\s+["']([^"']+)["']((?:\s*,\s*["'][^"']+["'])*)""", re.M)
_REQUIREMENT = re.compile(r"""["']\s*(~>|>=|<=|!=|>|<|=)?\s*([0-9][0-9A-Za-z.]*)\s*["']""")
# A gem's files in a backtrace: …/gems/liquid-5.4.0/lib/liquid/block.rb
_GEM_PATH = re.compile(r"/gems/([A-Za-z0-9_.-]+?)-(\d[0-9A-Za-z.]*)/")
ALWAYS = ("jekyll", "liquid")  # named even when the site's own list does not


def locked_versions(site_dir: Path) -> dict[str, str]:
    """Every gem Gemfile.lock pins, with its version (a platform suffix dropped)."""
    lock = site_dir / "Gemfile.lock"
    if not lock.is_file():
        return {}
    text = lock.read_text(encoding="utf-8", errors="replace")
    return {name: version.split("-")[0] for name, version in _LOCK_SPEC.findall(text)}


def gemfile_requirements(site_dir: Path) -> dict[str, tuple[tuple[str, str], ...]]:
    """The version requirements the Gemfile writes: {gem: (("~>", "3.9"), …)}."""
    gemfile = site_dir / "Gemfile"
    if not gemfile.is_file():
        return {}
    text = gemfile.read_text(encoding="utf-8", errors="replace")
    return {
        name: tuple((op or "=", version) for op, version in _REQUIREMENT.findall(rest))
        for name, rest in _GEMFILE_GEM.findall(text)
    }


def _parts(version: str) -> list[int]:
    return [int(part) if part.isdigit() else 0 for part in version.split(".")]


def _compare(left: str, right: str) -> int:
    a, b = _parts(left), _parts(right)
    width = max(len(a), len(b))
    a, b = a + [0] * (width - len(a)), b + [0] * (width - len(b))
    return (a > b) - (a < b)


def satisfies(version: str, requirement: tuple[str, str]) -> bool:
    """RubyGems' meaning of one requirement (`~> 3.9` is >= 3.9 and < 4.0)."""
    op, wanted = requirement
    order = _compare(version, wanted)
    if op == "~>":
        prefix = _parts(wanted)[:-1] if len(_parts(wanted)) > 1 else _parts(wanted)
        return order >= 0 and _parts(version)[: len(prefix)] == prefix
    return {
        "=": order == 0, "!=": order != 0, ">": order > 0, ">=": order >= 0,
        "<": order < 0, "<=": order <= 0,
    }[op]  # fmt: skip


def debian_differences(
    site_dir: Path, debian: Mapping[str, str], named: Iterable[str] = ()
) -> list[str]:
    """What Debian gives against what the site asks for, for Jekyll, Liquid and the gems
    `named` (its plugins and theme): "jekyll 4.3.1 (the lock: 3.10.0)", …"""
    locked = locked_versions(site_dir)
    required = gemfile_requirements(site_dir)
    differences = []
    for name in dict.fromkeys([*ALWAYS, *sorted(named)]):
        ours = debian.get(name)
        if ours is None:
            continue
        if name in locked and locked[name] != ours:
            differences.append(f"{name} {ours} (the lock: {locked[name]})")
        elif name not in locked and required.get(name):
            wants = required[name]
            if not all(satisfies(ours, requirement) for requirement in wants):
                asked = ", ".join(f"{op} {version}" for op, version in wants)
                differences.append(f"{name} {ours} (the Gemfile: {asked})")
    return differences


def fallback_line(differences: list[str]) -> str | None:
    """The one line the build says, when anything differs."""
    if not differences:
        return None
    return (
        "The Debian fallback is not the site's own gems: Debian's "
        f"{', '.join(differences)}. If the site looks wrong or fails, build it with its "
        'own gems ([build] gems = "bundler" and a gem source that answers, or vendor/cache).'
    )


def versions_in_output(lines: Iterable[str]) -> dict[str, str]:
    """The gems (and versions) a failure's backtrace names by their installed paths."""
    found: dict[str, str] = {}
    for line in lines:
        for name, version in _GEM_PATH.findall(line):
            found.setdefault(name, version)
    return found
