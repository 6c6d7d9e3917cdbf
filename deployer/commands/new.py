"""`sitedeploy new`: start a site from the starter template."""

from __future__ import annotations

import shutil
from pathlib import Path

from deployer.errors import DestinationExists
from deployer.resources import site_template_dir

_NOT_COPIED = shutil.ignore_patterns("_site", ".jekyll-cache", ".jekyll-metadata", ".sass-cache")


def new_site(destination: Path) -> Path:
    """Copy the starter site into `destination`, which must not exist or be empty."""
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise DestinationExists(
            f"{destination} already exists and is not empty; sitedeploy never overwrites "
            "files. Choose a new folder name, or remove that folder first."
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(site_template_dir(), destination, ignore=_NOT_COPIED, dirs_exist_ok=True)
    return destination
