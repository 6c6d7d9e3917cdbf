"""The site's settings: `sitedeploy.toml` in the site folder, overridden by command-line flags.

The schema is declared once (`_FIELDS`). Validation collects every bad key and reports
them together, each with the file, line and key, so one run shows everything to fix.
Flags default to None so that an unset flag never overrides the file.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.config_tables import CSP_SECTION, HEADERS_SECTION, csp_table, headers_table
from deployer.csp.derive import CspSettings
from deployer.errors import ConfigError
from deployer.headers import own_policy
from deployer.suggest import did_you_mean

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


class DeployTarget(enum.Enum):
    """`[deploy] to` / `--to`: a server with Docker (this machine, or one over SSH), or a
    Docker Swarm."""

    HOST = "host"
    SWARM = "swarm"


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
    # [deploy]: where the site goes live, and how it listens there.
    deploy_to: DeployTarget = field(default_factory=lambda: DeployTarget.HOST)
    deploy_server: str | None = None  # the server's engine: ssh://user@host, a docker context
    deploy_port: int | None = None  # None: 80 on a server, 8080 on a swarm
    deploy_bind: str = "0.0.0.0"  # the server's addresses the front listens on
    deploy_replicas: int = 3  # on a swarm
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
_HTTP_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")  # a gem source, a Debian mirror


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


_ENGINE = re.compile(
    r"^(?:(?:ssh|tcp)://[^\s/:@]+(?:@[^\s/:@]+)?(?::[0-9]+)?|unix:///\S+|[A-Za-z0-9][\w.+-]*)$"
)


def _server(value: Any) -> str | None:
    if isinstance(value, str) and _ENGINE.match(value):
        return None
    return (
        "expected a Docker engine: ssh://user@host[:port], or a `docker context` name "
        f"(no password in it: SSH keys only), got {value!r}"
    )


def _replicas(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        return f"expected a number of replicas from 1 to 100, got {value!r}"
    return None


def _host(value: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"expected an IP address to bind, such as 127.0.0.1 or 0.0.0.0, got {value!r}"
    return None


def _one_of(choices: type[enum.Enum]) -> Check:
    values = [str(member.value) for member in choices]

    def check(value: Any) -> str | None:
        return None if value in values else f"expected one of {', '.join(values)}, got {value!r}"

    return check


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
    if not isinstance(value, str) or not _HTTP_URL.match(value):
        return f"expected the http(s) URL of a gem source, got {value!r}"
    if "@" in value.split("/")[2]:
        # It would end up in the builder image's Bundler config: never a password there.
        return "a gem source URL with credentials is refused (they would be stored in the image)"
    return None


def _mirror(value: Any) -> str | None:
    if isinstance(value, str) and _HTTP_URL.match(value):
        return None
    return f"expected an http(s) URL of a Debian mirror, got {value!r}"


@dataclass(frozen=True)
class _Field:
    section: str  # "" for top-level keys
    key: str
    attribute: str
    check: Check
    flag: str | None = None


_REGISTRY = _string(
    re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?$|^\[[0-9a-fA-F:]+\](:[0-9]+)?$"), "HOST[:PORT]"
)
_REPOSITORY = _string(
    re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$"), "a repository such as team/blog"
)
_FIELDS = (
    _Field("", "name", "name", _string(_SITE_NAME, "a lower-case name (a-z, 0-9, '.', '_', '-')")),
    _Field("images", "builder", "builder_image", _image, "--builder-image"),
    _Field("images", "nginx", "nginx_image", _image, "--nginx-image"),
    _Field("build", "engine", "engine", _one_of(BuildEngine), "--engine"),
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
    _Field("build", "gems", "gems", _one_of(GemsChoice), "--gems"),
    _Field("build", "gem_mirror", "gem_mirror", _source),
    _Field("images", "ruby", "ruby_image", _image, "--ruby-image"),
    _Field("build", "before", "before", _string(re.compile(r"^\S[^\x00]*$"), "a shell command")),
    _Field("build", "ca_bundle", "ca_bundle", _string(re.compile(r"^/\S+$"), "an absolute path")),
    _Field("preview", "host", "host", _host, "--host"),
    _Field("preview", "port", "port", _port, "--port"),
    _Field("deploy", "to", "deploy_to", _one_of(DeployTarget), "--to"),
    _Field("deploy", "server", "deploy_server", _server, "--server"),
    _Field("deploy", "port", "deploy_port", _port, "--port"),
    _Field("deploy", "bind", "deploy_bind", _host, "--bind"),
    _Field("deploy", "replicas", "deploy_replicas", _replicas, "--replicas"),
    _Field("publish", "registry", "registry", _REGISTRY, "--registry"),
    _Field("publish", "repository", "repository", _REPOSITORY, "--repository"),
)


def _qualified(section: str, key: str) -> str:
    return f"[{section}] {key}" if section else key


@dataclass(frozen=True)
class _Located:
    """sitedeploy.toml's text, to name the line of each problem."""

    path: Path
    text: str

    def key(self, section: str, key: str) -> str:
        """`path:line` where `key` is set in `section` ("" for the top), else `path`."""
        assignment = re.compile(rf"^\s*(?:{re.escape(section)}\.)?([\"']?){re.escape(key)}\1\s*=")
        dotted = re.compile(rf"^\s*{re.escape(section)}\.{re.escape(key)}\s*=")
        current = ""
        for number, line in enumerate(self.text.splitlines(), start=1):
            header = re.match(r"^\s*\[([^\]]+)\]", line)
            if header:
                current = header.group(1).strip()
            elif (current == section and assignment.match(line)) or (
                current == "" and section and dotted.match(line)
            ):
                return f"{self.path}:{number}"
        return str(self.path)

    def section(self, section: str) -> str:
        """`path:line` of the `[section]` header, else `path`."""
        for number, line in enumerate(self.text.splitlines(), start=1):
            if re.match(rf"^\s*\[\s*{re.escape(section)}\s*\]", line):
                return f"{self.path}:{number}"
        return str(self.path)


_KNOWN = {(f.section, f.key): f for f in _FIELDS}
_SECTIONS = {f.section for f in _FIELDS if f.section} | {HEADERS_SECTION, CSP_SECTION}

Found = tuple[dict[str, Any], list[str]]  # values by attribute, and problems
_SPELLED_OTHERWISE = {("deploy", "host"): " (the server: [deploy] server; its address: bind)"}


def _field(toml: _Located, section: str, key: str, value: Any) -> Found:
    """One key of the schema: its value, or why it cannot be used."""
    place, name = toml.key(section, key), _qualified(section, key)
    entry = _KNOWN.get((section, key))
    if entry is None:
        hint = _SPELLED_OTHERWISE.get((section, key)) or did_you_mean(
            name, (_qualified(s, k) for s, k in _KNOWN)
        )
        return {}, [f"{place}: unknown key {name}{hint}"]
    problem = entry.check(value)
    if problem:
        return {}, [f"{place}: {name}: {problem}"]
    return {entry.attribute: value}, []


def _entry(toml: _Located, key: str, value: Any) -> Found:
    """One top-level entry of the file: a key, a section of keys, or a table of the site's."""
    if key == HEADERS_SECTION and isinstance(value, dict):
        headers, said = headers_table(value, lambda name: toml.key(HEADERS_SECTION, name))
        return {"headers": headers}, said
    if key == CSP_SECTION and isinstance(value, dict):
        settings, said = csp_table(value, lambda name: toml.key(CSP_SECTION, name))
        return {"csp": settings}, said
    if isinstance(value, dict) and key in _SECTIONS:
        values: dict[str, Any] = {}
        problems: list[str] = []
        for inner, inner_value in value.items():
            found, said = _field(toml, key, inner, inner_value)
            values.update(found)
            problems.extend(said)
        return values, problems
    if isinstance(value, dict):
        hint = did_you_mean(key, _SECTIONS, shown=lambda name: f"[{name}]")
        return {}, [f"{toml.section(key)}: unknown section [{key}]{hint}"]
    return _field(toml, "", key, value)


def _validate_file(path: Path) -> Found:
    """Read sitedeploy.toml; return the values by attribute and every problem found."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return {}, [f"{path}: not valid TOML: {error}"]
    toml = _Located(path, text)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in data.items():
        found, said = _entry(toml, key, value)
        values.update(found)
        problems.extend(said)
    if CSP_SECTION in data and own_policy(values.get("headers", ())) is not None:
        problems.append(
            f"{toml.key(HEADERS_SECTION, 'Content-Security-Policy')}: [headers] sets the whole "
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
    if "deploy_to" in values:
        values["deploy_to"] = DeployTarget(values["deploy_to"])
    for attribute in ("jekyll_config", "packages", "skip_plugins"):
        if attribute in values:
            values[attribute] = tuple(values[attribute])
    return SiteConfig(**values)
