"""What a site needs from Debian to build: Jekyll, its theme and its plugins.

RubyGems is out of reach, so every gem the site loads must come from a Debian package.
We read what Jekyll itself would load (`plugins:`, the legacy `gems:`, `theme:`, and the
Gemfile's `:jekyll_plugins` group) and map each gem to its package before the build
starts, so a missing plugin is one clear error instead of a failed build minutes later.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from deployer.errors import ConfigError, PluginUnavailable

# Gem name -> Debian package, for Debian 12 (bookworm). Debian names plugin gems
# `ruby-<gem>`; themes keep the gem's own name.
PLUGIN_PACKAGES: dict[str, str] = {
    gem: f"ruby-{gem}"
    for gem in (
        "jekyll-archives",
        "jekyll-avatar",
        "jekyll-commonmark",
        "jekyll-compose",
        "jekyll-data",
        "jekyll-default-layout",
        "jekyll-feed",
        "jekyll-gist",
        "jekyll-github-metadata",
        "jekyll-include-cache",
        "jekyll-last-modified-at",
        "jekyll-mentions",
        "jekyll-optional-front-matter",
        "jekyll-paginate",
        "jekyll-paginate-v2",
        "jekyll-polyglot",
        "jekyll-readme-index",
        "jekyll-redirect-from",
        "jekyll-relative-links",
        "jekyll-sass-converter",
        "jekyll-seo-tag",
        "jekyll-sitemap",
        "jekyll-titles-from-headings",
        "jekyll-toc",
        "jekyll-watch",
    )
} | {"jekyll-multiple-languages-plugin": "ruby-jekyll-multiple-languages"}

THEME_PACKAGES: dict[str, str] = {"minima": "jekyll-theme-minima"}

# Gems a Gemfile commonly lists that are not plugins Jekyll loads: nothing to install.
_NOT_PLUGINS = frozenset(
    {"jekyll", "webrick", "tzinfo", "tzinfo-data", "wdm", "http_parser.rb", "kramdown-parser-gfm"}
)

# Always installed in the build stage: Jekyll, and the compressors for precompressed assets.
BASE_PACKAGES = ("jekyll", "ca-certificates", "brotli")

_BASEURL = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")
_GEM_LINE = re.compile(r"""^\s*gem\s+["']([^"']+)["'](.*)$""")
_GROUP_START = re.compile(r"^\s*group\s+(.*?)\s+do\s*(#.*)?$")


@dataclass(frozen=True)
class JekyllRequirements:
    """What the build stage installs and tells Jekyll to load."""

    packages: tuple[str, ...]
    plugins: tuple[str, ...]
    theme: str | None
    baseurl: str
    config_files: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    site_url: str = ""  # `url:` of _config.yml: absolute links on it are internal
    time: str | None = None  # `site.time` for Jekyll, unless the site sets its own


def gemfile_plugins(text: str) -> list[str]:
    """Gems in the Gemfile's `:jekyll_plugins` group, which Bundler would auto-require."""
    plugins: list[str] = []
    depth_in_group: list[bool] = []  # one entry per open `do` block: is it jekyll_plugins?
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        group = _GROUP_START.match(line)
        if group:
            depth_in_group.append(":jekyll_plugins" in group.group(1))
            continue
        if re.match(r"^\s*(\w+.*\bdo\b.*)$", line) and not _GEM_LINE.match(line):
            depth_in_group.append(False)
            continue
        if re.match(r"^\s*end\s*$", line) and depth_in_group:
            depth_in_group.pop()
            continue
        gem = _GEM_LINE.match(line)
        if not gem:
            continue
        in_group = any(depth_in_group) or re.search(
            r"group:\s*(\[[^\]]*)?:jekyll_plugins|:group\s*=>\s*:jekyll_plugins", gem.group(2)
        )
        if in_group:
            plugins.append(gem.group(1))
    return plugins


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path.name}: no such file in {path.parent}. Check --jekyll-config (or "
            "[build] jekyll_config in sitedeploy.toml): names are relative to the site folder."
        ) from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(
            f"{path}: Jekyll cannot read this config file: {error}. Fix the syntax and run again."
        ) from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level.")
    return data


def default_config_files(site_dir: Path) -> tuple[str, ...]:
    for name in ("_config.yml", "_config.yaml", "_config.toml"):
        if (site_dir / name).is_file():
            return (name,)
    return ("_config.yml",)


def _string_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where}: expected a list of gem names, got {value!r}.")


def read_requirements(
    site_dir: Path, config_files: tuple[str, ...] = (), extra_packages: tuple[str, ...] = ()
) -> JekyllRequirements:
    """Map the site's theme and plugins to Debian packages; raise if any has none."""
    files = config_files or default_config_files(site_dir)
    merged: dict[str, Any] = {}
    for name in files:
        merged.update(_read_config_file(site_dir / name))
    where = ", ".join(files)

    warnings: list[str] = []
    plugins = _string_list(merged.get("plugins"), f"{where}: plugins")
    legacy = _string_list(merged.get("gems"), f"{where}: gems")
    if legacy:
        warnings.append(f"{where}: the `gems:` key is deprecated; rename it to `plugins:`.")
    gemfile = site_dir / "Gemfile"
    from_gemfile = gemfile_plugins(gemfile.read_text(encoding="utf-8")) if gemfile.is_file() else []

    missing: list[str] = []
    if merged.get("remote_theme"):
        missing.append(
            f"{where}: remote_theme {merged['remote_theme']!r} needs GitHub at build time; "
            "use a theme Debian packages (minima) or copy the theme's _layouts, _includes "
            "and _sass into the site."
        )
    theme = merged.get("theme")
    packages: list[str] = list(BASE_PACKAGES)
    if theme is not None:
        theme_name = str(theme).removeprefix("jekyll-theme-")
        if theme_name in THEME_PACKAGES:
            packages.append(THEME_PACKAGES[theme_name])
        else:
            missing.append(
                f"{where}: theme {theme!r} has no Debian package (packaged themes: "
                f"{', '.join(sorted(THEME_PACKAGES))}). Use one of those, or copy the theme's "
                "_layouts, _includes and _sass into the site and remove `theme:`."
            )

    wanted: list[str] = []
    for gem, source in (
        *((g, f"{where}: plugins") for g in plugins),
        *((g, f"{where}: gems") for g in legacy),
        *((g, "Gemfile: group :jekyll_plugins") for g in from_gemfile),
    ):
        if gem in wanted or gem in _NOT_PLUGINS:
            continue
        if gem in PLUGIN_PACKAGES:
            wanted.append(gem)
            packages.append(PLUGIN_PACKAGES[gem])
        elif gem == "github-pages":
            missing.append(
                f"{source}: github-pages is a bundle of gems with no Debian package; list the "
                "plugins you use under `plugins:` in _config.yml instead."
            )
        else:
            missing.append(
                f"{source}: plugin {gem!r} has no Debian package, and RubyGems cannot be "
                "reached. Remove it, or copy its code into _plugins/. Debian packages these: "
                f"{', '.join(sorted(PLUGIN_PACKAGES))}."
            )
    if missing:
        raise PluginUnavailable("\n".join(missing))

    baseurl = merged.get("baseurl") or ""
    if not isinstance(baseurl, str):
        raise ConfigError(f"{where}: baseurl: expected a path such as /blog, got {baseurl!r}.")
    baseurl = "/" + baseurl.strip("/") if baseurl.strip("/") else ""
    if not _BASEURL.match(baseurl):
        raise ConfigError(
            f"{where}: baseurl {baseurl!r} has characters sitedeploy cannot serve it under; "
            "use letters, digits, '.', '_', '~' and '-' between slashes, such as /blog."
        )
    packages.extend(p for p in extra_packages if p not in packages)
    return JekyllRequirements(
        packages=tuple(dict.fromkeys(packages)),
        plugins=tuple(wanted),
        theme=str(theme) if theme is not None else None,
        baseurl=baseurl,
        config_files=tuple(files),
        warnings=tuple(warnings),
        site_url=str(merged.get("url") or "").rstrip("/"),
        time=None if "time" in merged else content_time(site_dir),
    )


def content_time(site_dir: Path, now: datetime | None = None) -> str:
    """A `site.time` that depends on the content, so the same site builds to the same bytes.

    Jekyll stamps its clock time into feeds and sitemaps, and hides posts dated after it.
    We use the last instant, anywhere on Earth, of the newest post's date (by file name or
    `date:`), so every post is published; capped at now, so a post scheduled for the future
    stays unpublished as Jekyll intends. A site without posts gets 2000-01-01.
    """
    dates = []
    for post in site_dir.glob("**/_posts/**/*"):
        if not post.is_file() or {"_site", "vendor", "node_modules"} & set(post.parts):
            continue
        named = re.match(r"^(\d{4}-\d{2}-\d{2})-", post.name)
        if named:
            dates.append(named.group(1))
        with post.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
        dated = re.search(r"^date:\s*[\"']?(\d{4}-\d{2}-\d{2})", head, re.MULTILINE)
        if dated:
            dates.append(dated.group(1))
    newest = datetime.fromisoformat(f"{max(dates, default='2000-01-01')}T23:59:59-12:00")
    moment = min(newest, now or datetime.now(UTC))
    return moment.strftime("%Y-%m-%d %H:%M:%S %z")
