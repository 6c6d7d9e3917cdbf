"""What a site needs from Debian to build: Jekyll, its theme and its plugins.

Offline, every gem the site loads must come from a Debian package. We read what Jekyll
itself would load (`plugins:`, the legacy `gems:`, `theme:`, the Gemfile's `:jekyll_plugins`
group, and the GitHub Pages set when the Gemfile asks for `github-pages`) and map each gem
to its package before the build starts, so a missing plugin is one clear error instead of
a failed build minutes later. Gems that come with Jekyll itself are never "missing".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.errors import ConfigError, PluginUnavailable
from deployer.image.jekyll_config import baseurl, content_time, read_jekyll_config
from deployer.image.sass import check_sass

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

# Gems that come with Jekyll (its own dependencies, installed with Debian's `jekyll`) or
# that a Gemfile lists for other reasons: never a plugin to install.
WITH_JEKYLL = frozenset(
    {
        "jekyll", "kramdown", "kramdown-parser-gfm", "rouge", "liquid", "mercenary",
        "safe_yaml", "pathutil", "terminal-table", "colorator", "addressable", "i18n",
        "em-websocket", "listen", "webrick", "unicode-display_width", "sassc", "sass",
        "http_parser.rb", "tzinfo", "tzinfo-data", "wdm", "github-pages",
    }
)  # fmt: skip

# The `github-pages` gem: the plugins GitHub Pages always enables (pages-gem's
# DEFAULT_PLUGINS), then the others it allows a site to turn on.
GITHUB_PAGES = "github-pages"
GITHUB_PAGES_DEFAULTS = (
    "jekyll-coffeescript",
    "jekyll-gist",
    "jekyll-github-metadata",
    "jekyll-paginate",
    "jekyll-relative-links",
    "jekyll-optional-front-matter",
    "jekyll-readme-index",
    "jekyll-default-layout",
    "jekyll-titles-from-headings",
)

# GitHub Pages defaults that call GitHub's API while building: offline they are left out
# unless the site names them itself.
NEEDS_GITHUB = frozenset({"jekyll-github-metadata"})

# What a site loses when it builds without a plugin (`[build] skip_plugins`).
SKIP_EFFECTS = {
    "jemoji": ":emoji: codes stay text",
    "jekyll-coffeescript": ".coffee files are not compiled to JavaScript",
    "jekyll-mentions": "@mentions stay text",
    "jekyll-github-metadata": "site.github is empty",
    "jekyll-remote-theme": "remote_theme is not fetched",
}
_SKIP_DEFAULT = "what it adds (tags, filters, generated pages) is missing"

# Always installed in the build stage: Jekyll, and the compressors for precompressed assets.
BASE_PACKAGES = ("jekyll", "ca-certificates", "brotli")

_GEM_LINE = re.compile(r"""^\s*gem\s+["']([^"']+)["'](.*)$""")
_GROUP_START = re.compile(r"^\s*group\s+(.*?)\s+do\s*(#.*)?$")
_GEMSPEC_NAME = re.compile(r"""\.name\s*=\s*["']([^"']+)["']""")
_GEMSPEC_DEPENDENCY = re.compile(r"""add_(?:runtime_)?dependency\s*\(?\s*["']([^"']+)["']""")


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
    own_theme: bool = False  # the site carries the theme it names: build without the gem
    skipped: tuple[str, ...] = ()  # plugins left out on purpose ([build] skip_plugins)
    plugins_dir: tuple[str, ...] = ("_plugins",)  # the site's own plugin folders
    settings: dict[str, Any] = field(default_factory=dict)  # the merged Jekyll config


def gemfile_gems(text: str) -> list[tuple[str, bool]]:
    """Every gem of a Gemfile, each with whether it is in the `:jekyll_plugins` group
    (which Bundler auto-requires for Jekyll)."""
    gems: list[tuple[str, bool]] = []
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
        in_group = any(depth_in_group) or bool(
            re.search(
                r"group:\s*(\[[^\]]*)?:jekyll_plugins|:group\s*=>\s*:jekyll_plugins", gem.group(2)
            )
        )
        gems.append((gem.group(1), in_group))
    return gems


def gemfile_plugins(text: str) -> list[str]:
    """Gems in the Gemfile's `:jekyll_plugins` group."""
    return [gem for gem, plugin in gemfile_gems(text) if plugin]


def _string_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where}: expected a list of gem names, got {value!r}.")


def own_theme_dependencies(site_dir: Path, theme: str) -> list[str] | None:
    """The gem dependencies of the theme, if the site is that theme's own repository (a
    gemspec named like the theme, with the theme's `_layouts`); None otherwise."""
    if not (site_dir / "_layouts").is_dir():
        return None
    for gemspec in sorted(site_dir.glob("*.gemspec")):
        text = gemspec.read_text(encoding="utf-8", errors="replace")
        name = _GEMSPEC_NAME.search(text)
        if (name.group(1) if name else gemspec.stem) == theme:
            return _GEMSPEC_DEPENDENCY.findall(text)
    return None


@dataclass
class _Wanted:
    """Gems the site asks for, each with every place that asks (reported once)."""

    places: dict[str, list[str]] = field(default_factory=dict)
    optional: set[str] = field(default_factory=set)  # only a warning if unpackaged

    def add(self, gem: str, place: str, *, optional: bool = False) -> None:
        if place not in self.places.setdefault(gem, []):
            self.places[gem].append(place)
        if optional:
            self.optional.add(gem)
        else:
            self.optional.discard(gem)


@dataclass
class _Resolution:
    """What reading the site's plugins and theme found so far (the steps below fill it)."""

    where: str  # the Jekyll config file(s), for messages
    offline: bool
    wanted: _Wanted = field(default_factory=_Wanted)
    packages: list[str] = field(default_factory=lambda: list(BASE_PACKAGES))
    plugins: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unpackaged: list[str] = field(default_factory=list)
    own_theme: bool = False


def _wanted_gems(found: _Resolution, site_dir: Path, settings: dict[str, Any]) -> None:
    """Every gem the site asks for: `plugins:` (and the old `gems:`), the Gemfile's
    `:jekyll_plugins` group, and (offline) what github-pages turns on by default."""
    where, wanted = found.where, found.wanted
    for gem in _string_list(settings.get("plugins"), f"{where}: plugins"):
        wanted.add(gem, f"{where}: plugins")
    legacy = _string_list(settings.get("gems"), f"{where}: gems")
    if legacy:
        found.warnings.append(f"{where}: the `gems:` key is deprecated; rename it to `plugins:`.")
    for gem in legacy:
        wanted.add(gem, f"{where}: gems")
    gemfile = site_dir / "Gemfile"
    gems = gemfile_gems(gemfile.read_text(encoding="utf-8")) if gemfile.is_file() else []
    for gem, plugin in gems:
        if plugin:
            wanted.add(gem, "Gemfile: group :jekyll_plugins")
    github_pages = any(gem == GITHUB_PAGES for gem, _ in gems) or GITHUB_PAGES in wanted.places
    if github_pages and found.offline:  # with Bundler, the github-pages gem sets them itself
        for gem in GITHUB_PAGES_DEFAULTS:
            wanted.add(gem, "Gemfile: github-pages (on by default)", optional=True)


def _theme(found: _Resolution, site_dir: Path, settings: dict[str, Any]) -> None:
    """The theme's Debian package; or the site is the theme's own repository; or (offline)
    why it cannot be had. A `remote_theme` cannot be had offline."""
    where, theme = found.where, settings.get("theme")
    if theme is not None:
        name = str(theme)
        if name.removeprefix("jekyll-theme-") in THEME_PACKAGES:
            found.packages.append(THEME_PACKAGES[name.removeprefix("jekyll-theme-")])
        elif not found.offline:
            pass  # Bundler installs it (from the source, or the site's own gemspec)
        elif (dependencies := own_theme_dependencies(site_dir, name)) is not None:
            found.own_theme = True
            found.warnings.append(
                f"{where}: theme {name!r} has no Debian package, but this site is the theme's "
                "own repository: it builds from its own _layouts, _includes and _sass."
            )
            for gem in dependencies:
                found.wanted.add(gem, f"{name}.gemspec")
        else:
            found.missing.append(
                f"{where}: theme {name!r} has no Debian package (packaged themes: "
                f"{', '.join(sorted(THEME_PACKAGES))}). Use one of those, or copy the theme's "
                "_layouts, _includes and _sass into the site and remove `theme:`."
            )
    if found.offline and settings.get("remote_theme"):
        found.missing.append(
            f"{where}: remote_theme {settings['remote_theme']!r} is downloaded from GitHub "
            "at build time, which this build cannot reach. Copy the theme's _layouts, "
            "_includes and _sass into the site and remove `remote_theme:`."
        )


def _plugin(found: _Resolution, gem: str, places: list[str], theme: object, skip: bool) -> None:
    """One wanted gem: a plugin with its Debian package, one Bundler fetches, one left
    out (skipped, or a github-pages default that cannot work here), or missing."""
    optional = gem in found.wanted.optional
    effect = SKIP_EFFECTS.get(gem, _SKIP_DEFAULT)
    if gem in WITH_JEKYLL or gem in THEME_PACKAGES or gem == theme:
        return
    if skip:
        found.skipped.append(gem)
        found.warnings.append(f"Building without {gem} ([build] skip_plugins): {effect}.")
    elif optional and gem in NEEDS_GITHUB:
        found.warnings.append(
            f"github-pages: {gem} needs GitHub's API, which this build cannot reach; "
            f"building without it: {effect}."
        )
    elif gem in PLUGIN_PACKAGES:
        found.plugins.append(gem)
        found.packages.append(PLUGIN_PACKAGES[gem])
    elif not found.offline:
        found.plugins.append(gem)  # Bundler fetches it
    elif optional:
        found.warnings.append(
            f"github-pages: {gem} has no Debian package; building without it: {effect}."
        )
    elif places == [f"{theme}.gemspec"] and not gem.startswith("jekyll"):
        return  # a theme's gemspec also names tools (rake, bundler): not plugins
    else:
        found.unpackaged.append(gem)
        found.missing.append(f"{'; '.join(places)}: plugin {gem!r} has no Debian package.")


def read_requirements(
    site_dir: Path,
    config_files: tuple[str, ...] = (),
    extra_packages: tuple[str, ...] = (),
    skip_plugins: tuple[str, ...] = (),
    *,
    offline: bool = True,
) -> JekyllRequirements:
    """Map the site's theme and plugins to Debian packages; raise if any has none.

    With `offline=False` (a Bundler build, from a gem source that answers) nothing is
    missing: the packages are only what Debian can give before Bundler fetches the rest.
    """
    config = read_jekyll_config(site_dir, config_files)
    settings = config.settings
    found = _Resolution(config.where, offline)
    _wanted_gems(found, site_dir, settings)
    _theme(found, site_dir, settings)
    theme = settings.get("theme")
    for gem, places in found.wanted.places.items():
        _plugin(found, gem, places, theme, gem in skip_plugins)
    if found.missing:
        raise PluginUnavailable("\n".join([*found.missing, *_fixes(found.unpackaged)]))
    if offline:
        check_sass(site_dir)  # a Bundler build has the Sass converter its lock names

    packages = [*found.packages, *(p for p in extra_packages if p not in found.packages)]
    plugins_dir = _string_list(settings.get("plugins_dir"), f"{config.where}: plugins_dir")
    return JekyllRequirements(
        packages=tuple(dict.fromkeys(packages)),
        plugins=tuple(found.plugins),
        theme=str(theme) if theme is not None else None,
        baseurl=baseurl(config),
        config_files=config.files,
        warnings=tuple(found.warnings),
        site_url=str(settings.get("url") or "").rstrip("/"),
        time=None if "time" in settings else content_time(site_dir),
        own_theme=found.own_theme,
        skipped=tuple(found.skipped),
        plugins_dir=tuple(plugins_dir) or ("_plugins",),
        settings=settings,
    )


def _fixes(unpackaged: list[str]) -> list[str]:
    if not unpackaged:
        return []
    names = ", ".join(f'"{gem}"' for gem in unpackaged)
    return [
        "RubyGems cannot be reached from this build, so only gems Debian packages can be "
        f"installed. Build without them with `[build] skip_plugins = [{names}]` in "
        "sitedeploy.toml, remove them, or copy their code into _plugins/. Debian packages "
        f"these plugins: {', '.join(sorted(PLUGIN_PACKAGES))}."
    ]
