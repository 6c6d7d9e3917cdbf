"""Where sitedeploy's own files are: the Dockerfile templates and the starter site.

In a source checkout (and an editable install) they sit at the top of the repository;
a wheel carries them in `deployer/_data/` (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _resource(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"sitedeploy is installed without its {name}/ folder")


def docker_dir() -> Path:
    """The folder with the Dockerfile templates and the nginx runtime files."""
    return _resource("docker")


def site_template_dir() -> Path:
    """The starter site that `sitedeploy new` copies and the README serves."""
    return _resource("site-template")
