"""The tables of sitedeploy.toml whose keys are the site's to choose: `[headers]` (header
names) and `[csp]` (`mode`, `allow` by directive, `companions` by host), each key checked
on its own and every problem named with its place.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from deployer.csp.derive import CspSettings
from deployer.csp.directives import DIRECTIVES, SCRIPT_DIRECTIVES, is_source
from deployer.headers import header_problem
from deployer.suggest import did_you_mean

HEADERS_SECTION = "headers"
CSP_SECTION = "csp"
CSP_MODES = ("derived", "strict")
CSP_KEYS = ("mode", "allow", "companions")
_CSP_UNSAFE = re.compile(r"[\"\\$;,\x00-\x1f\x7f]")
_COMPANION_HOST = re.compile(r"^(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)+$")

Place = Callable[[str], str]  # the file and line where a key of the table is set
Sources = tuple[tuple[str, tuple[str, ...]], ...]  # (directive, sources) pairs


def source_problem(directive: str, source: Any) -> str | None:
    """Why `source` cannot be added to `directive` by `[csp]`, or None if it can."""
    if directive not in DIRECTIVES:
        hint = did_you_mean(directive, DIRECTIVES)
        return f"{directive!r} is not a Content-Security-Policy directive{hint}"
    if not isinstance(source, str) or _CSP_UNSAFE.search(source) or not is_source(source):
        return (
            f"{source!r} is not a source expression (an origin such as "
            "'https://cdn.example.com', a quoted keyword or a quoted hash)"
        )
    if directive in SCRIPT_DIRECTIVES:
        lowered = source.lower()
        if lowered in {"'unsafe-inline'", "*"} or lowered.endswith(":") or "*" in lowered:
            return (
                f"{source} is refused for scripts: it would run scripts an attacker injects. "
                "Allow the script's origin or its 'sha256-…' hash; a site that wants it anyway "
                "sets its whole policy itself: [headers] Content-Security-Policy"
            )
    return None


def sources_table(table: Any, where: str) -> tuple[Sources, list[str]]:
    """A `{directive = [sources]}` table, validated: the pairs and every problem."""
    if not isinstance(table, dict):
        return (), [f"{where}: expected a table of directive = [sources], got {table!r}"]
    pairs, problems = [], []
    for directive, sources in table.items():
        if not isinstance(sources, list) or not sources:
            problems.append(f"{where} {directive}: expected a list of sources, got {sources!r}")
            continue
        found = [source_problem(directive, source) for source in sources]
        problems.extend(f"{where} {directive}: {problem}" for problem in found if problem)
        if not any(found):
            pairs.append((directive, tuple(sources)))
    return tuple(pairs), problems


def headers_table(
    table: dict[str, Any], place: Place
) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """`[headers]`: (name, value) pairs over the runtime's headers, and every problem."""
    seen: dict[str, str] = {}
    headers, problems = [], []
    for name, value in table.items():
        problem = header_problem(name, value)
        if not problem and name.lower() in seen:
            problem = f"{name} is already set as {seen[name.lower()]}"
        if problem:
            problems.append(f"{place(name)}: [headers] {problem}")
            continue
        seen[name.lower()] = name
        headers.append((name, value))
    return tuple(headers), problems


def _companions(table: Any, where: str) -> tuple[tuple[tuple[str, Sources], ...], list[str]]:
    """`[csp.companions]`: `{host = {directive = [sources]}}`, and every problem."""
    if not isinstance(table, dict):
        return (), [f"{where}: expected a table of host = {{directive = [sources]}}, got {table!r}"]
    companions, problems = [], []
    for host, sources in table.items():
        if not _COMPANION_HOST.match(str(host)):
            problems.append(
                f"{where}: {host!r} is not a host name "
                "(such as cdn.example.com, or *.example.com for its subdomains)"
            )
            continue
        pairs, found = sources_table(sources, f"{where} {host}")
        problems.extend(found)
        companions.append((host, pairs))
    return tuple(companions), problems


def csp_table(table: dict[str, Any], place: Place) -> tuple[CspSettings, list[str]]:
    """`[csp]`: the derived policy's settings, and every problem."""
    settings: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in table.items():
        where = place(key)
        if key == "mode":
            if value not in CSP_MODES:
                choices = ", ".join(CSP_MODES)
                problems.append(f"{where}: [csp] mode: expected one of {choices}, got {value!r}")
            settings["derive"] = value == "derived"
        elif key == "allow":
            settings["allow"], found = sources_table(value, f"{where}: [csp] allow")
            problems.extend(found)
        elif key == "companions":
            settings["companions"], found = _companions(value, f"{where}: [csp] companions")
            problems.extend(found)
        else:
            problems.append(f"{where}: unknown key [csp] {key}{did_you_mean(key, CSP_KEYS)}")
    return CspSettings(**settings), problems
