"""`[build] before`: a command (an npm build, say) run in the builder before Jekyll.

Node and npm come from Debian; the CA bundle the command may trust (a TLS-inspecting
proxy's, as in a company network or on our machines) reaches it as a BuildKit secret,
never as a layer. A site whose package.json builds files, and that sets no `before`, is
told once what it misses.
"""

from __future__ import annotations

import json
from pathlib import Path

from deployer.build.dockerfile import CA_SECRET
from deployer.config import SiteConfig
from deployer.errors import ConfigError

# The host's CA certificates (Debian's): what a `before` command trusts by default.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def before_secrets(config: SiteConfig) -> dict[str, str]:
    """What `[build] before` gets as BuildKit secrets: the CA bundle it may trust."""
    if config.before is None:
        return {}
    bundle = Path(config.ca_bundle or SYSTEM_CA_BUNDLE)
    if not bundle.is_file():
        raise ConfigError(
            f"[build] ca_bundle: {bundle} is not a file. Name the CA certificates the "
            "`before` command may trust (a TLS-inspecting proxy's, say), or remove ca_bundle."
        )
    return {CA_SECRET: str(bundle)}


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
