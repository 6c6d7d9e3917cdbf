"""The site's settings: `sitedeploy.toml` in the site folder, overridden by command-line flags.

The schema is declared once (`_FIELDS`). Validation collects every bad key and reports
them together, each with the file, line and key, so one run shows everything to fix.
Flags default to None so that an unset flag never overrides the file.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer import config_checks as checks
from deployer.config_tables import CSP_SECTION, HEADERS_SECTION, csp_table, headers_table
from deployer.csp.derive import CspSettings
from deployer.errors import ConfigError
from deployer.headers import own_policy
from deployer.suggest import did_you_mean
from deployer.tls_settings import TLS_SECTION, TlsSettings, tls_settings, tls_values

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
    sign: bool = False  # sign what is published (cosign's format)
    signing_key: str | None = None  # the private key's file [SITEDEPLOY_SIGNING_KEY]
    platforms: tuple[str, ...] = ()  # the CPUs published (one index); empty: every known one
    # [deploy]: where the site goes live, and how it listens there.
    deploy_to: DeployTarget = field(default_factory=lambda: DeployTarget.HOST)
    deploy_server: str | None = None  # the server's engine: ssh://user@host, a docker context
    deploy_port: int | None = None  # None: 80 on a server, 8080 on a swarm
    deploy_bind: str = "0.0.0.0"  # the server's addresses the front listens on
    deploy_replicas: int = 3  # on a swarm
    verify_key: str | None = None  # a deploy runs only images this public key signed
    # [headers]: (name, value) pairs over the runtime's security headers; "" removes one.
    headers: tuple[tuple[str, str], ...] = ()
    # [csp]: the Content-Security-Policy derived from the pages, or the strict one.
    csp: CspSettings = field(default_factory=CspSettings)
    # [tls]: HTTPS for a live site (its names, ACME or a given certificate, HSTS).
    tls: TlsSettings = field(default_factory=TlsSettings)


def site_file(site_dir: Path, value: str | None) -> Path | None:
    """A file a setting names: relative to the site folder (a flag's is absolute already,
    cli/options.absolute), None when unset."""
    return (site_dir / value).resolve() if value else None


@dataclass(frozen=True)
class _Field:
    section: str  # "" for top-level keys
    key: str
    attribute: str
    check: checks.Check
    flag: str | None = None


_REGISTRY = checks.string(
    re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?$|^\[[0-9a-fA-F:]+\](:[0-9]+)?$"), "HOST[:PORT]"
)
_REPOSITORY = checks.string(
    re.compile(rf"^{checks.COMPONENT}(?:/{checks.COMPONENT})*$"), "a repository such as team/blog"
)
_FIELDS = (
    _Field(
        "",
        "name",
        "name",
        checks.string(checks.SITE_NAME, "a lower-case name (a-z, 0-9, '.', '_', '-')"),
    ),
    _Field("images", "builder", "builder_image", checks.image, "--builder-image"),
    _Field("images", "nginx", "nginx_image", checks.image, "--nginx-image"),
    _Field("build", "engine", "engine", checks.one_of(BuildEngine), "--engine"),
    _Field(
        "build",
        "jekyll_config",
        "jekyll_config",
        checks.string_list(
            checks.string(re.compile(r"^[^,]+$"), "a config file name"), "file names"
        ),
        "--jekyll-config",
    ),
    _Field(
        "build",
        "packages",
        "packages",
        checks.string_list(
            checks.string(checks.PACKAGE, "a Debian package name"), "Debian package names"
        ),
    ),
    _Field(
        "build",
        "skip_plugins",
        "skip_plugins",
        checks.string_list(
            checks.string(re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"), "a gem name"), "gem names"
        ),
    ),
    _Field("build", "debian_mirror", "debian_mirror", checks.mirror),
    _Field("build", "gems", "gems", checks.one_of(GemsChoice), "--gems"),
    _Field("build", "gem_mirror", "gem_mirror", checks.gem_source),
    _Field("images", "ruby", "ruby_image", checks.image, "--ruby-image"),
    _Field(
        "build", "before", "before", checks.string(re.compile(r"^\S[^\x00]*$"), "a shell command")
    ),
    _Field(
        "build", "ca_bundle", "ca_bundle", checks.string(re.compile(r"^/\S+$"), "an absolute path")
    ),
    _Field("preview", "host", "host", checks.host, "--host"),
    _Field("preview", "port", "port", checks.port, "--port"),
    _Field("deploy", "to", "deploy_to", checks.one_of(DeployTarget), "--to"),
    _Field("deploy", "server", "deploy_server", checks.server, "--server"),
    _Field("deploy", "port", "deploy_port", checks.port, "--port"),
    _Field("deploy", "bind", "deploy_bind", checks.host, "--bind"),
    _Field("deploy", "replicas", "deploy_replicas", checks.replicas, "--replicas"),
    _Field(
        "deploy",
        "verify_key",
        "verify_key",
        checks.string(re.compile(r"^\S.*$"), "a public key file (cosign.pub)"),
        "--verify-key",
    ),
    _Field("publish", "registry", "registry", _REGISTRY, "--registry"),
    _Field("publish", "repository", "repository", _REPOSITORY, "--repository"),
    _Field("publish", "sign", "sign", checks.boolean, "--sign"),
    _Field(
        "publish",
        "platforms",
        "platforms",
        checks.string_list(checks.platform_name, "platforms such as linux/arm64"),
        "--platform",
    ),
    _Field(
        "publish",
        "signing_key",
        "signing_key",
        checks.string(re.compile(r"^\S.*$"), "a private key file"),
        "--signing-key",
    ),
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
_SECTIONS = {f.section for f in _FIELDS if f.section} | {HEADERS_SECTION, CSP_SECTION, TLS_SECTION}

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
    if key == TLS_SECTION and isinstance(value, dict):
        found, said = tls_values(value, lambda name: toml.key(TLS_SECTION, name))
        places = {name: toml.key(TLS_SECTION, name) for name in found}
        return {"tls": (found, places)}, said
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
    """Read `sitedeploy.toml` (if present) and apply flag overrides (None means unset;
    "tls" holds the `[tls]` keys' flags by key).

    Raises ConfigError listing every problem at once.
    """
    path = site_dir / CONFIG_FILE
    values: dict[str, Any] = {}
    problems: list[str] = []
    if path.is_file():
        values, problems = _validate_file(path)
    flags = dict(overrides or {})
    tls_flags = {key: value for key, value in flags.pop("tls", {}).items() if value is not None}
    flag_values, flag_problems = _validate_flags(flags)
    values.update(flag_values)
    problems.extend(flag_problems)
    tls_file, places = values.pop("tls", ({}, {}))
    flag_found, said = tls_values(tls_flags, lambda key: f"--{key.replace('_', '-')}")
    places.update({key: f"--{key.replace('_', '-')}" for key in flag_found})
    values["tls"], said_too = tls_settings(
        {**tls_file, **flag_found}, site_dir, lambda key: places.get(key, str(path))
    )
    problems.extend([*said, *said_too])
    if problems:
        fix = f"Fix {'these' if len(problems) > 1 else 'this'} and run again."
        raise ConfigError("\n".join([*problems, fix]))
    if "engine" in values:
        values["engine"] = BuildEngine(values["engine"])
    if "gems" in values:
        values["gems"] = GemsChoice(values["gems"])
    if "deploy_to" in values:
        values["deploy_to"] = DeployTarget(values["deploy_to"])
    for attribute in ("jekyll_config", "packages", "skip_plugins", "platforms"):
        if attribute in values:
            values[attribute] = tuple(values[attribute])
    return SiteConfig(**values)
