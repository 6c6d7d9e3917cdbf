"""Why a `jekyll build` failed, said with the file (and line) at fault and whose fault it is.

Jekyll names the file most of the time (`Liquid Exception: … in _posts/x.md`). When it does
not, sitedeploy reads the cause itself where it can:

* a Ruby symbol in YAML (`style: :compressed`): Debian's Jekyll reads YAML with Psych's safe
  loader, which refuses symbols (upstream Jekyll's SafeYAML reads them as strings), so the
  Debian way fails with `Tried to load unspecified class: Symbol` — in the config, a data
  file or a page's front matter;
* a plugin of the site's own that calls Bundler (`require "bundler/setup"`,
  `Bundler.require`): the Debian way installs no bundle, so it fails with
  `Bundler::GemNotFound`.

And it says whose fault a failure is: the site's (a file of it is named), or maybe the
offline fallback's (Debian's Jekyll and plugins are not the site's own gems).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from deployer.image.fidelity import debian_differences, versions_in_output

_JEKYLL_BANNER = re.compile(r"\bJekyll (\d+\.\d+\.\d+)\b")
_SYMBOL_FAILURE = ("Tried to load unspecified class: Symbol", "Psych::DisallowedClass")
_BUNDLER_FAILURE = ("Bundler::GemNotFound", "Bundler::GemfileNotFound", "bundler/setup")
_CALLS_BUNDLER = re.compile(
    r"""^\s*(?:require\s*\(?\s*["']bundler(?:/setup)?["']|Bundler\.(?:require|setup)\b)"""
)
_FRONT_MATTER_SUFFIXES = (".md", ".markdown", ".html", ".htm", ".textile", ".liquid", ".xml")
_SKIPPED_FOLDERS = {"_site", "node_modules", "vendor", ".git", ".jekyll-cache", ".bundle"}
_PATH_TOKEN = re.compile(r"[\w@~.\-/\u0080-\uffff]+")


@dataclass(frozen=True)
class Place:
    """A line of the site that causes a failure, and what it says there."""

    file: str  # relative to the site folder
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


def _symbols(text: str) -> Iterator[tuple[int, str]]:
    """(line, scalar) of every plain YAML scalar Psych would load as a Ruby symbol."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return
    todo: list[yaml.Node] = [node for node in nodes if node is not None]
    while todo:
        node = todo.pop()
        if isinstance(node, yaml.ScalarNode):
            value = str(node.value)
            if node.style is None and len(value) > 1 and value[0] == ":" and value[1] != " ":
                yield node.start_mark.line + 1, value
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                todo.extend((key, value))


def _front_matter(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            if handle.readline().rstrip() != "---":
                return None
            lines: list[str] = []
            for line in handle:
                if line.rstrip() in {"---", "..."}:
                    return "".join(lines)
                lines.append(line)
    except OSError:
        return None
    return None


def _site_files(site_dir: Path) -> Iterator[Path]:
    for path in sorted(site_dir.rglob("*")):
        parts = path.relative_to(site_dir).parts
        if path.is_file() and not _SKIPPED_FOLDERS.intersection(parts):
            yield path


def symbol_places(site_dir: Path, config_files: tuple[str, ...]) -> list[Place]:
    """Every Ruby symbol in the site's YAML: its config files, `_data`, front matter."""
    found: list[Place] = []

    def scan(path: Path, text: str, offset: int = 0) -> None:
        relative = path.relative_to(site_dir).as_posix()
        for line, value in _symbols(text):
            found.append(Place(relative, line + offset, value))

    for name in config_files:
        path = site_dir / name
        if path.is_file() and path.suffix in {".yml", ".yaml"}:
            scan(path, path.read_text(encoding="utf-8", errors="replace"))
    for path in _site_files(site_dir):
        relative = path.relative_to(site_dir)
        if relative.parts[0] == "_data" and path.suffix in {".yml", ".yaml"}:
            scan(path, path.read_text(encoding="utf-8", errors="replace"))
        elif path.suffix in _FRONT_MATTER_SUFFIXES:
            front = _front_matter(path)
            if front:
                scan(path, front, offset=1)  # the first line is the opening ---
    return sorted(found, key=lambda place: (place.file, place.line))


def bundler_places(site_dir: Path, plugins_dirs: tuple[str, ...]) -> list[Place]:
    """Every line of the site's own plugins that calls Bundler."""
    found = []
    for folder in plugins_dirs:
        for path in (
            sorted((site_dir / folder).rglob("*.rb")) if (site_dir / folder).is_dir() else []
        ):
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            for number, line in enumerate(lines, start=1):
                if _CALLS_BUNDLER.match(line):
                    found.append(Place(path.relative_to(site_dir).as_posix(), number, line.strip()))
    return found


def names_a_site_file(site_dir: Path, reason: str) -> bool:
    """Does Jekyll's message name a file of the site (relative to its folder)?"""
    for token in _PATH_TOKEN.findall(reason):
        candidate = token.strip("./")
        if ("/" in token or "." in candidate) and (site_dir / candidate).is_file():
            return True
    return False


def jekyll_version(lines: list[str]) -> str | None:
    """The Jekyll version its failure banner names (`Jekyll 4.3.1   Please append …`)."""
    for line in lines:
        match = _JEKYLL_BANNER.search(line)
        if match:
            return match.group(1)
    return None


def _listed(places: list[Place], limit: int = 8) -> str:
    shown = [f"  {place}" for place in places[:limit]]
    if len(places) > limit:
        shown.append(f"  … and {len(places) - limit} more")
    return "\n".join(shown)


@dataclass(frozen=True)
class BuildSetting:
    """What a failure's explanation needs to know of the build it happened in."""

    site_dir: Path
    config_files: tuple[str, ...]
    plugins_dirs: tuple[str, ...]
    debian: bool  # Jekyll and its plugins are Debian's packages (the offline fallback)
    named: tuple[str, ...] = ()  # the site's plugins and theme


def explain(setting: BuildSetting, reason: str, lines: list[str]) -> str:
    """The fix for a failed `jekyll build` whose message (`reason`) and output (`lines`)
    Jekyll printed: the file and line at fault, and whose fault it is (with what the Debian
    fallback's gems the failure names differ in from the site's own)."""
    fix = _fix(setting, reason, lines)
    if not setting.debian:
        return fix
    seen = versions_in_output(lines)
    version = jekyll_version(lines)
    if version:
        seen.setdefault("jekyll", version)
    differences = debian_differences(setting.site_dir, seen, setting.named)
    if differences:
        fix += f"\nDebian's gems here differ from the site's own: {', '.join(differences)}."
    return fix


def _fix(setting: BuildSetting, reason: str, lines: list[str]) -> str:
    said = "\n".join([reason, *lines])
    version = jekyll_version(lines)
    fallback = f"Debian's Jekyll {version}" if version else "Debian's Jekyll"
    if setting.debian and any(needle in said for needle in _SYMBOL_FAILURE):
        places = symbol_places(setting.site_dir, setting.config_files)
        if places:
            return (
                f"The cause is in the site: a Ruby symbol in YAML, which {fallback} (the "
                "offline fallback: it reads YAML with Psych's safe loader) refuses:\n"
                f"{_listed(places)}\nWrite the value without its leading colon (`style: "
                "compressed`, not `style: :compressed`); Jekyll's own plugins read both."
            )
    if setting.debian and any(needle in said for needle in _BUNDLER_FAILURE):
        places = bundler_places(setting.site_dir, setting.plugins_dirs)
        if places:
            return (
                "The cause is a plugin of the site's that calls Bundler, and this build has no "
                "bundle: its gems are Debian's packages (the offline fallback):\n"
                f"{_listed(places)}\nEither give the build a gem source (RubyGems when it "
                "answers, or [build] gem_mirror in sitedeploy.toml), or let the plugin go on "
                'without Bundler: `begin; require "bundler/setup"; Bundler.require'
                "(:jekyll_plugins); rescue LoadError, StandardError; end`."
            )
    if names_a_site_file(setting.site_dir, reason):
        if setting.debian:
            return (
                f"Fix the file named above and run again. (This build used {fallback} and "
                "Debian's plugins, the offline fallback; if the site builds with its own gems, "
                "that difference is the cause: see the gems line above.)"
            )
        return "Fix the file named above and run again."
    if setting.debian:
        return (
            f"Jekyll names no file of the site. This build used {fallback} and Debian's "
            "plugins (the offline fallback), which are not the site's own gems: build with "
            'them ([build] gems = "bundler" and a gem source that answers) to tell whether '
            "the fallback or the site is at fault; `sitedeploy build -v` shows Jekyll's whole "
            "output."
        )
    return (
        "Jekyll names no file of the site; `sitedeploy build -v` shows its whole output "
        "(a plugin of the site, or a gem of the bundle, is where to look)."
    )
