"""What a build gets as BuildKit secrets — files mounted for one RUN step, never written
into a layer, a label or the build history: the CA bundle `[build] before` may trust (a
TLS-inspecting proxy's), and the gem source's credentials for `bundle install`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deployer.config import SiteConfig
from deployer.errors import ConfigError
from deployer.image.dockerfile import BUNDLE_SECRET, CA_SECRET
from deployer.image.gems import GemsPlan, GemsWay

# The host's CA certificates (Debian's): what a `before` command trusts by default.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@contextmanager
def build_secrets(config: SiteConfig, plan: GemsPlan) -> Iterator[dict[str, str]]:
    """Secret id -> host file, for as long as the build runs (then the files are gone)."""
    secrets: dict[str, str] = {}
    if config.before is not None:
        bundle = Path(config.ca_bundle or SYSTEM_CA_BUNDLE)
        if not bundle.is_file():
            raise ConfigError(
                f"[build] ca_bundle: {bundle} is not a file. Name the CA certificates the "
                "`before` command may trust (a TLS-inspecting proxy's, say), or remove it."
            )
        secrets[CA_SECRET] = str(bundle)
    text = plan.secret_text if plan.way is GemsWay.BUNDLER else None
    if text is None:
        yield secrets
        return
    with tempfile.TemporaryDirectory(prefix="sitedeploy-secret-") as folder:
        path = Path(folder) / "bundle.env"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        yield {**secrets, BUNDLE_SECRET: str(path)}
