"""`[build] before`: a command (an npm build, say) run in the builder before Jekyll.

Node and npm come from Debian; the CA bundle the command may trust reaches it as a
BuildKit secret (secrets.py). A site whose package.json builds files, and that sets no
`before`, is told once what it misses.
"""

from __future__ import annotations

import json
from pathlib import Path

from deployer.config import SiteConfig


def npm_warnings(site_dir: Path, config: SiteConfig) -> list[str]:
    """A package.json whose build makes files, and nothing runs it: say so once."""
    package = site_dir / "package.json"
    if config.before is not None or not package.is_file():
        return []
    try:
        scripts = json.loads(package.read_text(encoding="utf-8")).get("scripts") or {}
    except (ValueError, AttributeError):
        return []
    if "build" not in scripts:
        return []
    return [
        f"package.json has a build script ({scripts['build']!r}) that this build does not "
        "run: files it makes are missing from the site. Set [build] before = "
        '"npm ci && npm run build" in sitedeploy.toml to run it before Jekyll.'
    ]
