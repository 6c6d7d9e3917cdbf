"""The site's settings: `sitedeploy.toml` in the site folder, overridden by command-line flags.

The schema is declared once (`_FIELDS`). Validation collects every bad key and reports
them together, each with the file, line and key, so one run shows everything to fix.
Flags default to None so that an unset flag never overrides the file.
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.csp.derive import CspSettings
from deployer.csp.directives import DIRECTIVES, SCRIPT_DIRECTIVES, is_source
from deployer.errors import ConfigError
from deployer.headers import header_problem, own_policy

CONFIG_FILE = "sitedeploy.toml"


class BuildEngine(enum.Enum):
    """Which builder turns the Dockerfile into images."""

    AUTO = "auto"
    BUILDKIT = "buildkit"
    CLASSIC = "classic"


class GemsChoice(enum.Enum):
    """`[build] gems` / `--gems`: how a site's gems are installed."""

    AUTO = "auto"
    BUNDLER = "bundler"
    DEBIAN = "debian"


@dataclass(frozen=True)
class SiteConfig:
    """Validated settings for one site."""

    name: str | None = None
    builder_image: str = "debian:bookworm-slim"
    nginx_image: str = "debian:bookworm-slim"
    engine: BuildEngine = BuildEngine.AUTO
    jekyll_config: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    skip_plugins: tuple[str, ...] = ()  # gems to build without (offline, no Debian package)
    gems: GemsChoice = GemsChoice.AUTO  # Bundler from a gem source, or Debian's packages
    gem_mirror: str | None = None  # stands in for the Gemfile's source (Bundler's mirror)
    ruby_image: str | None = None  # base of Bundler builds [ruby:<lock's X.Y>-slim]
    before: str | None = None  # a shell command run in the builder before Jekyll (npm …)
    ca_bundle: str | None = None  # CA certificates that build may trust (a TLS proxy's)
    debian_mirror: str = "http://deb.debian.org/debian"
    host: str = "127.0.0.1"
    port: int = 8080
    registry: str | None = None
    repository: str | None = None
    # [headers]: (name, value) pairs over the runtime's security headers; "" removes one.
    headers: tuple[tuple[str, str], ...] = ()
    # [csp]: the Content-Security-Policy derived from the pages, or the strict one.
    csp: CspSettings = field(default_factory=CspSettings)


# An image reference as the distribution spec defines it: [host[:port]/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?:(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?/)?"
    rf"{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?$"
)
_SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def is_image_reference(value: str) -> bool:
    """True if `value` is a well-formed image reference such as `debian:bookworm-slim`."""
    return bool(_REFERENCE.match(value))


Check = Callable[[Any], str | None]  # returns a problem description, or None if fine


def _string(pattern: re.Pattern[str] | None, what: str) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected {what}, got {value!r}"
        if pattern is not None and not pattern.match(value):
            return f"expected {what}, got {value!r}"
        return None

    return check


def _image(value: Any) -> str | None:
    if isinstance(value, str) and is_image_reference(value):
        return None
    return f"expected an image reference such as 'debian:bookworm-slim', got {value!r}"


def _port(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return f"expected a port number from 1 to 65535, got {value!r}"
    return None


def _host(value: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"expected an IP address to bind, such as 127.0.0.1 or 0.0.0.0, got {value!r}"
    return None


def _gems(value: Any) -> str | None:
    choices = [g.value for g in GemsChoice]
    if value in choices:
        return None
    return f"expected one of {', '.join(choices)}, got {value!r}"


def _engine(value: Any) -> str | None:
    choices = [e.value for e in BuildEngine]
    if value in choices:
        return None
    return f"expected one of {', '.join(choices)}, got {value!r}"


def _string_list(item: Check, what: str) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, list | tuple):
            return f"expected a list of {what}, got {value!r}"
        for element in value:
            problem = item(element)
            if problem:
                return problem
        return None

    return check


def _source(value: Any) -> str | None:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        return f"expected the http(s) URL of a gem source, got {value!r}"
    if "@" in value.split("/")[2]:
        # It would end up in the builder image's Bundler config: never a password there.
        return "a gem source URL with credentials is refused (they would be stored in the image)"
    return None


def _mirror(value: Any) -> str | None:
    if isinstance(value, str) and re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        return None
    return f"expected an http(s) URL of a Debian mirror, got {value!r}"


@dataclass(frozen=True)
class _Field:
    section: str  # "" for top-level keys
    key: str
    attribute: str
    check: Check
    flag: str | None = None


_FIELDS = (
    _Field("", "name", "name", _string(_SITE_NAME, "a lower-case name (a-z, 0-9, '.', '_', '-')")),
    _Field("images", "builder", "builder_image", _image, "--builder-image"),
    _Field("images", "nginx", "nginx_image", _image, "--nginx-image"),
    _Field("build", "engine", "engine", _engine, "--engine"),
    _Field(
        "build",
        "jekyll_config",
        "jekyll_config",
        _string_list(_string(re.compile(r"^[^,]+$"), "a config file name"), "file names"),
        "--jekyll-config",
    ),
    _Field(
        "build",
        "packages",
        "packages",
        _string_list(_string(_PACKAGE, "a Debian package name"), "Debian package names"),
    ),
    _Field(
        "build",
        "skip_plugins",
        "skip_plugins",
        _string_list(
            _string(re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"), "a gem name"), "gem names"
        ),
    ),
    _Field("build", "debian_mirror", "debian_mirror", _mirror),
    _Field("build", "gems", "gems", _gems, "--gems"),
    _Field("build", "gem_mirror", "gem_mirror", _source),
    _Field("images", "ruby", "ruby_image", _image, "--ruby-image"),
    _Field("build", "before", "before", _string(re.compile(r"^\S[^\x00]*$"), "a shell command")),
    _Field("build", "ca_bundle", "ca_bundle", _string(re.compile(r"^/\S+$"), "an absolute path")),
    _Field("preview", "host", "host", _host, "--host"),
    _Field("preview", "port", "port", _port, "--port"),
    _Field(
        "publish",
        "registry",
        "registry",
        _string(
            re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?$|^\[[0-9a-fA-F:]+\](:[0-9]+)?$"), "HOST[:PORT]"
        ),
        "--registry",
    ),
    _Field(
        "publish",
        "repository",
        "repository",
        _string(re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$"), "a repository such as team/blog"),
        "--repository",
    ),
)


# A table whose keys are the site's to choose (header names), each checked on its own.
HEADERS_SECTION = "headers"
CSP_SECTION = "csp"
CSP_MODES = ("derived", "strict")
_CSP_UNSAFE = re.compile(r"[\"\\$;,\x00-\x1f\x7f]")
_COMPANION_HOST = re.compile(r"^(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)+$")


def source_problem(directive: str, source: Any) -> str | None:
    """Why `source` cannot be added to `directive` by `[csp]`, or None if it can."""
    if directive not in DIRECTIVES:
        close = difflib.get_close_matches(str(directive), sorted(DIRECTIVES), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
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


def _sources_problem(
    table: Any, where: str
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], list[str]]:
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


def _qualified(section: str, key: str) -> str:
    return f"[{section}] {key}" if section else key


def _line_of(text: str, section: str, key: str) -> int | None:
    """The 1-based line where `key` is set in `section` of a TOML text, if we can find it."""
    current = ""
    assignment = re.compile(rf"^\s*(?:{re.escape(section)}\.)?([\"']?){re.escape(key)}\1\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"^\s*\[([^\]]+)\]", line)
        if header:
            current = header.group(1).strip()
            continue
        if current == section and assignment.match(line):
            return number
        if current == "" and section and re.match(rf"^\s*{re.escape(section)}\.{key}\s*=", line):
            return number
    return None


def _header_line(text: str, section: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"^\s*\[\s*{re.escape(section)}\s*\]", line):
            return number
    return None


def _validate_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Read sitedeploy.toml; return the values by attribute and every problem found."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return {}, [f"{path}: not valid TOML: {error}"]

    known = {(f.section, f.key): f for f in _FIELDS}
    sections = {f.section for f in _FIELDS if f.section} | {HEADERS_SECTION, CSP_SECTION}
    values: dict[str, Any] = {}
    problems: list[str] = []

    def where(section: str, key: str) -> str:
        line = _line_of(text, section, key)
        return f"{path}:{line}" if line else str(path)

    def visit(section: str, key: str, value: Any) -> None:
        entry = known.get((section, key))
        if entry is None:
            names = [_qualified(s, k) for s, k in known]
            close = difflib.get_close_matches(_qualified(section, key), names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{where(section, key)}: unknown key {_qualified(section, key)}{hint}")
            return
        problem = entry.check(value)
        if problem:
            problems.append(f"{where(section, key)}: {_qualified(section, key)}: {problem}")
        else:
            values[entry.attribute] = value

    def visit_headers(table: dict[str, Any]) -> None:
        seen: dict[str, str] = {}
        headers = []
        for name, value in table.items():
            problem = header_problem(name, value)
            if not problem and name.lower() in seen:
                problem = f"{name} is already set as {seen[name.lower()]}"
            if problem:
                problems.append(f"{where(HEADERS_SECTION, name)}: [headers] {problem}")
                continue
            seen[name.lower()] = name
            headers.append((name, value))
        values["headers"] = tuple(headers)

    def visit_csp(table: dict[str, Any]) -> None:
        settings: dict[str, Any] = {}
        for key, value in table.items():
            place = where(CSP_SECTION, key)
            if key == "mode":
                if value not in CSP_MODES:
                    choices = ", ".join(CSP_MODES)
                    problems.append(
                        f"{place}: [csp] mode: expected one of {choices}, got {value!r}"
                    )
                settings["derive"] = value == "derived"
            elif key == "allow":
                settings["allow"], found = _sources_problem(value, f"{place}: [csp] allow")
                problems.extend(found)
            elif key == "companions" and isinstance(value, dict):
                companions = []
                for host, sources in value.items():
                    if not _COMPANION_HOST.match(str(host)):
                        problems.append(
                            f"{place}: [csp] companions: {host!r} is not a host name "
                            "(such as cdn.example.com, or *.example.com for its subdomains)"
                        )
                        continue
                    pairs, found = _sources_problem(sources, f"{place}: [csp] companions {host}")
                    problems.extend(found)
                    companions.append((host, pairs))
                settings["companions"] = tuple(companions)
            else:
                close = difflib.get_close_matches(key, ["mode", "allow", "companions"], n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                problems.append(f"{place}: unknown key [csp] {key}{hint}")
        values["csp"] = CspSettings(**settings)

    for key, value in data.items():
        if key == HEADERS_SECTION and isinstance(value, dict):
            visit_headers(value)
        elif key == CSP_SECTION and isinstance(value, dict):
            visit_csp(value)
        elif isinstance(value, dict) and key in sections:
            for inner, inner_value in value.items():
                visit(key, inner, inner_value)
        elif isinstance(value, dict):
            close = difflib.get_close_matches(key, sorted(sections), n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            line = _header_line(text, key)
            location = f"{path}:{line}" if line else str(path)
            problems.append(f"{location}: unknown section [{key}]{hint}")
        else:
            visit("", key, value)
    if CSP_SECTION in data and own_policy(values.get("headers", ())) is not None:
        problems.append(
            f"{where(HEADERS_SECTION, 'Content-Security-Policy')}: [headers] sets the whole "
            "Content-Security-Policy and [csp] derives one: keep one of them (a site's own "
            "policy in [headers] is sent exactly as written)"
        )
    return values, problems


def _validate_flags(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    by_attribute = {f.attribute: f for f in _FIELDS}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for attribute, value in overrides.items():
        if value is None:
            continue
        entry = by_attribute[attribute]
        problem = entry.check(value)
        if problem:
            problems.append(f"{entry.flag or attribute}: {problem}")
        else:
            values[attribute] = value
    return values, problems


def load_config(site_dir: Path, overrides: Mapping[str, Any] | None = None) -> SiteConfig:
    """Read `sitedeploy.toml` (if present) and apply flag overrides (None means unset).

    Raises ConfigError listing every problem at once.
    """
    path = site_dir / CONFIG_FILE
    values: dict[str, Any] = {}
    problems: list[str] = []
    if path.is_file():
        values, problems = _validate_file(path)
    flag_values, flag_problems = _validate_flags(overrides or {})
    values.update(flag_values)
    problems.extend(flag_problems)
    if problems:
        fix = f"Fix {'these' if len(problems) > 1 else 'this'} and run again."
        raise ConfigError("\n".join([*problems, fix]))
    if "engine" in values:
        values["engine"] = BuildEngine(values["engine"])
    if "gems" in values:
        values["gems"] = GemsChoice(values["gems"])
    for attribute in ("jekyll_config", "packages", "skip_plugins"):
        if attribute in values:
            values[attribute] = tuple(values[attribute])
    return SiteConfig(**values)
