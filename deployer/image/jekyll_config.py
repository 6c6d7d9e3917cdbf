"""The site's Jekyll configuration as Jekyll will read it: the config files, merged in order,
and the settings sitedeploy derives from them (baseurl, url, a reproducible site.time)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from deployer.errors import ConfigError

_BASEURL = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")


@dataclass(frozen=True)
class JekyllConfig:
    files: tuple[str, ...]
    settings: dict[str, Any]  # merged, later files win

    @property
    def where(self) -> str:
        return ", ".join(self.files)


def _read_file(path: Path) -> dict[str, Any]:
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


def read_jekyll_config(site_dir: Path, config_files: tuple[str, ...] = ()) -> JekyllConfig:
    files = config_files or default_config_files(site_dir)
    merged: dict[str, Any] = {}
    for name in files:
        merged.update(_read_file(site_dir / name))
    return JekyllConfig(tuple(files), merged)


def baseurl(config: JekyllConfig) -> str:
    """`baseurl` as a path nginx can serve the site under: "" or "/a/b"."""
    value = config.settings.get("baseurl") or ""
    if not isinstance(value, str):
        raise ConfigError(f"{config.where}: baseurl: expected a path such as /blog, got {value!r}.")
    value = "/" + value.strip("/") if value.strip("/") else ""
    if not _BASEURL.match(value):
        raise ConfigError(
            f"{config.where}: baseurl {value!r} has characters sitedeploy cannot serve it "
            "under; use letters, digits, '.', '_', '~' and '-' between slashes, such as /blog."
        )
    return value


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
