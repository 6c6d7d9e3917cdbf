"""`[build] before`: a command (an npm build, say) run in the builder before Jekyll.

Node and npm come from Debian; the CA bundle the command may trust reaches it as a
BuildKit secret (secrets.py). A site whose package.json builds files, and that sets no
`before`, is told once what it misses.
"""

from __future__ import annotations

import json
from pathlib import Path

from deployer.config import SiteConfig

# Files an npm build typically makes for pages to load.
ASSET_SUFFIXES = (".css", ".js", ".mjs", ".json", ".map", ".wasm", ".woff", ".woff2")
_SETTING = '[build] before = "npm ci && npm run build"'


def unrun_npm_build(site_dir: Path, config: SiteConfig) -> str | None:
    """package.json's build script, when the site has one and nothing runs it."""
    package = site_dir / "package.json"
    if config.before is not None or not package.is_file():
        return None
    try:
        scripts = json.loads(package.read_text(encoding="utf-8")).get("scripts") or {}
    except (ValueError, AttributeError):
        return None
    build = scripts.get("build") if isinstance(scripts, dict) else None
    return str(build) if build else None


def npm_warning(script: str, missing: list[str] | None = None) -> str:
    """The one warning for an npm build nothing runs, naming what pages miss, if known."""
    if missing:
        shown = ", ".join(missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        return (
            f"Pages reference files that package.json's build ({script!r}) would make, and "
            f"nothing runs it: {shown}. Set {_SETTING} in sitedeploy.toml to run it before Jekyll."
        )
    return (
        f"package.json has a build script ({script!r}) that this build does not run: files "
        f"it makes are missing from the site. Set {_SETTING} in sitedeploy.toml to run it "
        "before Jekyll."
    )
