"""Which way a site's gems come: Bundler from a gem source, or Debian's packages offline.

Real Jekyll sites carry a Gemfile (and usually a Gemfile.lock), and `bundle exec jekyll
build` is how they are built. When the Gemfile's source (or `[build] gem_mirror`) answers,
sitedeploy builds that way, honouring the lock exactly. When it does not — no network, an
air-gapped machine — the site's gems come from Debian's packages (plugins.py). `auto`
decides by asking the source before building; `up` says which way and why in one line.
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from deployer.config import GemsChoice
from deployer.errors import ConfigError
from deployer.hosts import is_loopback

DEFAULT_SOURCE = "https://rubygems.org"
VENDOR_CACHE = "vendor/cache"  # `bundle cache`'s folder: the site's gems, for offline builds
PROBE_TIMEOUT = 3.0
_SOURCE = re.compile(r"""^\s*source\s*\(?\s*["']([^"']+)["']""", re.MULTILINE)
_LOCK_RUBY = re.compile(r"^RUBY VERSION\s*\n\s+ruby (\d+\.\d+)", re.MULTILINE)
_RUBY_VERSION = re.compile(r"^(?:ruby-)?(\d+\.\d+)")
_GEMSPEC = re.compile(r"^\s*gemspec\b", re.MULTILINE)
_GEM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class GemsWay(enum.StrEnum):
    """The way a build took (recorded in the image's labels)."""

    BUNDLER = "bundler"
    DEBIAN = "debian"


@dataclass(frozen=True)
class GemsPlan:
    way: GemsWay
    reason: str  # one line for people: which way and why
    source: str | None = None  # where Bundler fetches gems (mirror, else the Gemfile's)
    mirrored: str | None = None  # the Gemfile source the mirror stands in for
    ruby: str | None = None  # Ruby "X.Y" the lock or .ruby-version asks for
    gem_files: tuple[str, ...] = ()  # copied before `bundle install` (its cache key)
    locked: bool = False  # Gemfile.lock exists: install exactly it (frozen)
    credentials: str | None = field(default=None, repr=False)  # KEY=user:password
    local: bool = False  # from vendor/cache alone (`bundle install --local`): no network
    # No Gemfile: sitedeploy writes one (Jekyll, the theme, the plugins), as `gem install`
    # would get them — upstream Jekyll wherever a gem source answers.
    written: bool = False

    @property
    def secret_text(self) -> str | None:
        """What `bundle install` gets as a BuildKit secret (never a layer or a label)."""
        return f"{self.credentials}\n" if self.credentials else None

    @property
    def network_host(self) -> bool:
        """A source on this machine's loopback: the build must share the host's network."""
        return self.source is not None and is_loopback(urlsplit(self.source).netloc)

    @property
    def shown_source(self) -> str | None:
        if self.local:
            return VENDOR_CACHE
        return without_credentials(self.source) if self.source else None


def without_credentials(url: str) -> str:
    """The URL without user:password@ (never printed, labelled or stored)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def gemfile_source(text: str) -> str:
    found = _SOURCE.search(text)
    return found.group(1).rstrip("/") if found else DEFAULT_SOURCE


def ruby_version(site_dir: Path) -> str | None:
    """The Ruby "X.Y" the site asks for: Gemfile.lock's RUBY VERSION, else .ruby-version."""
    lock = site_dir / "Gemfile.lock"
    if lock.is_file():
        found = _LOCK_RUBY.search(lock.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found.group(1)
    dotfile = site_dir / ".ruby-version"
    if dotfile.is_file():
        found = _RUBY_VERSION.match(dotfile.read_text(encoding="utf-8").strip())
        if found:
            return found.group(1)
    return None


def ruby_image(version: str | None) -> str:
    """The official Ruby image for a version: `ruby:3.3-slim` (Debian-based)."""
    return f"ruby:{version}-slim" if version else "ruby:slim"


def credentials_key(url: str) -> str:
    """Bundler's environment variable for a source host's credentials:
    `gems.example-co.com` -> BUNDLE_GEMS__EXAMPLE___CO__COM."""
    host = urlsplit(url).hostname or ""
    return "BUNDLE_" + host.upper().replace("-", "___").replace(".", "__")


def source_credentials(url: str) -> str | None:
    """`user:password` for the source, from Bundler's variable in our environment (the way
    Bundler itself takes them), or None."""
    return os.environ.get(credentials_key(url)) or None


def answers(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None if `url` answers like a gem source; else why not, in a few words."""
    why = "no answer"
    secret = source_credentials(url)
    user, _, password = (secret or "").partition(":")
    auth = (user, password) if secret else None
    for index in ("versions", "specs.4.8.gz"):
        try:
            response = requests.head(
                f"{url}/{index}", timeout=timeout, allow_redirects=True, auth=auth
            )
        except requests.RequestException as error:
            why = type(error).__name__
            continue
        if response.status_code < 400:
            return None
        why = f"status {response.status_code}"
        if response.status_code in {401, 403}:
            why += f" — set {credentials_key(url)}=user:password for it"
    return why


def vendored_gems(site_dir: Path) -> list[str]:
    """The .gem files the site keeps in vendor/cache (`bundle cache`), if any."""
    folder = site_dir / VENDOR_CACHE
    return sorted(path.name for path in folder.glob("*.gem")) if folder.is_dir() else []


def _gem_files(site_dir: Path, gemfile_text: str) -> list[str]:
    """What `bundle install` reads: the Gemfile, its lock, and a gemspec it names."""
    files = ["Gemfile", *(["Gemfile.lock"] if (site_dir / "Gemfile.lock").is_file() else [])]
    if _GEMSPEC.search(gemfile_text):
        files += sorted(p.name for p in site_dir.glob("*.gemspec"))
    return files


def _without_gemfile(site_dir: Path, choice: GemsChoice, mirror: str | None) -> GemsPlan:
    """A site without a Gemfile gets upstream Jekyll (and its plugins) where a gem source
    answers — RubyGems, or the mirror — and Debian's packages only offline."""
    source = (mirror or DEFAULT_SOURCE).rstrip("/")
    shown = without_credentials(source)
    why = answers(source)
    if why is None:
        return GemsPlan(
            GemsWay.BUNDLER,
            f"Gems: Bundler from {shown} (the site has no Gemfile: Jekyll, its theme and "
            "plugins, the newest that fit).",
            source=source,
            ruby=ruby_version(site_dir),
            written=True,
            credentials=(
                f"{credentials_key(source)}={secret}"
                if (secret := source_credentials(source))
                else None
            ),
        )
    if choice is GemsChoice.BUNDLER:
        raise ConfigError(
            f'[build] gems = "bundler" (or --gems bundler), but {site_dir} has no Gemfile and '
            f"the gem source {shown} does not answer ({why}). Add a Gemfile and a source that "
            'answers, or use gems = "auto" or "debian".'
        )
    return GemsPlan(
        GemsWay.DEBIAN,
        f"Gems: Debian's packages (the site has no Gemfile, and the gem source {shown} does "
        f"not answer: {why}).",
    )


def written_gemfile(source: str, theme: str | None, plugins: tuple[str, ...]) -> str:
    """The Gemfile of a site without one: what `gem install jekyll` and its plugins get."""
    odd = [name for name in (theme or "", *plugins) if name and not _GEM_NAME.match(name)]
    if odd:
        raise ConfigError(
            f"_config.yml names {', '.join(repr(n) for n in odd)} as a theme or plugin, which "
            "is not a gem name (letters, digits, '_', '.', '-'). Fix the name."
        )
    lines = [f'source "{without_credentials(source)}"', 'gem "jekyll"']
    if theme:
        lines.append(f'gem "{theme}"')
    if plugins:
        lines += ["group :jekyll_plugins do", *(f'  gem "{name}"' for name in plugins), "end"]
    return "\n".join(lines) + "\n"


def plan_gems(site_dir: Path, choice: GemsChoice, mirror: str | None) -> GemsPlan:
    """Decide the way for this build (asking the gem source, for `auto`)."""
    gemfile = site_dir / "Gemfile"
    if choice is GemsChoice.DEBIAN:
        return GemsPlan(GemsWay.DEBIAN, 'Gems: Debian\'s packages ([build] gems = "debian").')
    if not gemfile.is_file():
        return _without_gemfile(site_dir, choice, mirror)
    text = gemfile.read_text(encoding="utf-8")
    lock = site_dir / "Gemfile.lock"
    how = "Gemfile.lock, exactly" if lock.is_file() else "Gemfile, no lock"
    cached = vendored_gems(site_dir)
    if cached:
        # Bundler's own offline convention: the site carries its gems, no source is asked.
        return GemsPlan(
            GemsWay.BUNDLER,
            f"Gems: Bundler from {VENDOR_CACHE} ({len(cached)} gems), offline ({how}).",
            ruby=ruby_version(site_dir),
            gem_files=tuple(_gem_files(site_dir, text)),
            locked=lock.is_file(),
            local=True,
        )
    declared = gemfile_source(text)
    source = (mirror or declared).rstrip("/")
    shown = without_credentials(source)
    why = answers(source)
    if why is not None:
        if choice is GemsChoice.BUNDLER:
            raise ConfigError(
                f'gems = "bundler" ([build] gems, or --gems): the gem source {shown} does not '
                f"answer ({why}). "
                "Start it, set [build] gem_mirror to one that answers, or use gems = "
                '"debian" to build from Debian\'s packages.'
            )
        return GemsPlan(
            GemsWay.DEBIAN,
            f"Gems: Debian's packages (the gem source {shown} does not answer: {why}).",
        )
    return GemsPlan(
        GemsWay.BUNDLER,
        f"Gems: Bundler from {shown} ({how}).",
        source=source,
        mirrored=declared if mirror else None,
        ruby=ruby_version(site_dir),
        gem_files=tuple(_gem_files(site_dir, text)),
        locked=lock.is_file(),
        credentials=(
            f"{credentials_key(source)}={secret}"
            if (secret := source_credentials(source))
            else None
        ),
    )
