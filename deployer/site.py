"""A Jekyll site folder and the names sitedeploy derives from it.

Every image and container sitedeploy makes for a site carries the site's id (a hash of
its absolute path) in a label, so `status` and `down` find them from any folder, and two
folders with the same name never share a container.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from deployer.errors import SiteNotFound
from deployer.labels import LATEST, Label, Role

_MARKERS = ("_config.yml", "_config.yaml", "_config.toml")


def slugify(name: str) -> str:
    """A name usable in image repositories and container names: `My Blog!` -> `my-blog`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:40].strip("-") or "site"


@dataclass(frozen=True)
class Site:
    """A site folder, with the image and container names used for it."""

    path: Path
    name: str
    deployment: str = ""  # "" for the preview; "live" for `deploy` to a server

    @property
    def id(self) -> str:
        """Stable for a folder: the first 12 hex digits of the sha256 of its absolute path
        (and of the deployment's name, so a live deploy never meets the preview)."""
        key = f"{self.path}#{self.deployment}" if self.deployment else str(self.path)
        return hashlib.sha256(key.encode()).hexdigest()[:12]

    def live(self) -> Site:
        """The same site as `deploy` serves it: its own containers, volumes and lock."""
        return replace(self, deployment="live")

    @property
    def repository(self) -> str:
        """Image repository of the final nginx image."""
        return f"sitedeploy/{self.name}"

    @property
    def builder_repository(self) -> str:
        """Image repository of the Jekyll builder stage."""
        return f"sitedeploy/{self.name}-builder"

    @property
    def conf_repository(self) -> str:
        """Image repository of the site's own nginx files (its derived policy)."""
        return f"sitedeploy/{self.name}-conf"

    @property
    def repositories(self) -> tuple[str, ...]:
        """Every image repository a site's builds write to."""
        return (self.repository, self.builder_repository, self.conf_repository)

    @property
    def container_name(self) -> str:
        return f"sitedeploy-{self.name}-{self.id[:6]}"

    @property
    def labels(self) -> dict[str, str]:
        return {Label.SITE_ID: self.id, Label.SITE_PATH: str(self.path)}


def user_cache() -> Path:
    """sitedeploy's own files on this machine (`~/.cache/sitedeploy`)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sitedeploy"


def cache_dir(site: Site) -> Path:
    """sitedeploy's own files for a site (built `_site` copy, lock): never in the site folder."""
    return user_cache() / site.id


def open_site(path: Path, name: str | None = None) -> Site:
    """The site at `path`; raises SiteNotFound unless it is a folder with a Jekyll config."""
    folder = path.expanduser().resolve()
    if not folder.is_dir():
        raise SiteNotFound(
            f"{path} is not a folder. Pass the folder of a Jekyll site "
            "(one with a _config.yml), or create one with `sitedeploy new FOLDER`."
        )
    if not any((folder / marker).is_file() for marker in _MARKERS):
        raise SiteNotFound(
            f"{folder} has no _config.yml, so it is not a Jekyll site. Pass the site's folder "
            "(the one with _config.yml), or create one with `sitedeploy new FOLDER`."
        )
    return Site(path=folder, name=name or slugify(folder.name))


# --- names of the site's images and objects ------------------------------------------


def site_filter(site: Site, role: Role | None = None) -> dict[str, str | list[str] | bool]:
    """An engine list filter for the site's objects (in one role, if given)."""
    wanted: list[str] = [f"{Label.SITE_ID}={site.id}"]
    if role is not None:
        wanted.append(f"{Label.ROLE}={role}")
    return {"label": wanted}


def image_tag(site: Site, suffix: str) -> str:
    """The site's final nginx image for a content tag (or another suffix, e.g. verify-…)."""
    return f"{site.repository}:{suffix}"


def builder_tag(site: Site, suffix: str) -> str:
    """The site's Jekyll builder image for a content tag (or another suffix)."""
    return f"{site.builder_repository}:{suffix}"


def latest_tag(site: Site) -> str:
    """The site's newest built image (`up` previews it, `inspect` reads it)."""
    return image_tag(site, LATEST)


def page_url(root: str, baseurl: str) -> str:
    """The site's home page on a server at `root`: under its base path (`/repo/`), as
    `jekyll serve` prints it; the root itself for a site without one."""
    return f"{root.rstrip('/')}{baseurl}/" if baseurl else root
