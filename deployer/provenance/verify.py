"""`sitedeploy inspect --verify`: rebuild the site with the same inputs, compare the bytes."""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from deployer.built_site import BuiltSite
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import EngineError, SitedeployError
from deployer.image.extract import discard_extracted, extract_built_site
from deployer.image.images import build_site
from deployer.labels import Label, content_tag
from deployer.progress import Progress
from deployer.provenance.sbom import site_digest
from deployer.site import Site, builder_tag, image_tag, latest_tag


@dataclass
class Verification:
    image: str
    content_hash: str
    rebuilt_content_hash: str
    site_sha256: str
    rebuilt_site_sha256: str
    differences: list[str] = field(default_factory=list)

    @property
    def same_inputs(self) -> bool:
        return self.content_hash == self.rebuilt_content_hash

    @property
    def reproduced(self) -> bool:
        return self.same_inputs and self.site_sha256 == self.rebuilt_site_sha256

    def as_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "same_inputs": self.same_inputs,
            "reproduced": self.reproduced,
            "content_hash": self.content_hash,
            "rebuilt_content_hash": self.rebuilt_content_hash,
            "site_sha256": self.site_sha256,
            "rebuilt_site_sha256": self.rebuilt_site_sha256,
            "differences": self.differences,
        }


def _differences(before: BuiltSite, after: BuiltSite) -> list[str]:
    old = {f.path: f.sha256 for f in before.files}
    new = {f.path: f.sha256 for f in after.files}
    changed = [f"changed: {p}" for p in sorted(old.keys() & new.keys()) if old[p] != new[p]]
    return [
        *changed,
        *(f"added: {p}" for p in sorted(new.keys() - old.keys())),
        *(f"removed: {p}" for p in sorted(old.keys() - new.keys())),
    ]


def verify_site(engine: Engine, site: Site, config: SiteConfig, progress: Progress) -> Verification:
    """Rebuild the site from scratch with its current inputs; compare with its last image."""
    reference = latest_tag(site)
    image = engine.find_image(reference)
    if image is None:
        raise EngineError(f"No image {reference} here: run `sitedeploy build {site.path}` first.")
    labels = dict(image.labels or {})
    content = labels.get(Label.CONTENT_HASH, "")
    before = extract_built_site(
        engine, builder_tag(site, content_tag(content)), site, content, into="verify-before"
    )
    token = secrets.token_hex(4)
    try:
        rebuilt = build_site(engine, site, config, progress, rebuild=token)
        return Verification(
            image=reference,
            content_hash=content,
            rebuilt_content_hash=rebuilt.content_hash,
            site_sha256=labels.get(Label.SITE_SHA256, ""),
            rebuilt_site_sha256=site_digest(rebuilt.built.files),
            differences=_differences(before, rebuilt.built),
        )
    finally:
        for tag in (image_tag(site, f"verify-{token}"), builder_tag(site, f"verify-{token}")):
            with contextlib.suppress(SitedeployError), engine.errors(f"Removing {tag}"):
                engine.client.images.remove(tag, noprune=False)
        for folder in (f"verify-{token}", "verify-before"):
            discard_extracted(site, folder)
