"""`sitedeploy inspect`: what is in an image and where every byte of it came from
(provenance/inspect.py reads it from the image), and with `--verify` a rebuild of the
site from its current inputs, compared file by file (provenance/verify.py), and of each
platform's runtime from nothing cached, compared by its bill of materials.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import ConfigError, EngineError, SitedeployError
from deployer.image.extract import discard_extracted, extract_built_site
from deployer.image.images import build_site
from deployer.image.runtime import rebuild_runtime
from deployer.labels import Label, content_tag
from deployer.platforms import platform, platforms
from deployer.progress import Progress
from deployer.provenance.inspect import Inspection, inspect_image, write_sbom
from deployer.provenance.sbom import site_digest
from deployer.provenance.verify import Verification, differences
from deployer.site import Site, builder_tag, image_tag, latest_tag


@dataclass(frozen=True)
class InspectResult:
    """What `inspect` found, and (with --verify) whether a rebuild reproduced it."""

    inspection: Inspection
    sbom_path: Path | None = None
    verification: Verification | None = None

    @property
    def ok(self) -> bool:
        return self.verification is None or self.verification.reproduced

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, **self.inspection.as_dict()}
        if self.verification is not None:
            data["verification"] = self.verification.as_dict()
        return data


@dataclass(frozen=True)
class InspectSettings:
    image: str | None = None  # inspect this image instead of the site's latest
    sbom: Path | None = None  # write the CycloneDX bill of materials here
    verify: bool = False  # rebuild the site and compare
    platform: str | None = None  # with `image`: that CPU's image of a published index


def inspect(
    engine: Engine,
    loaded: tuple[Site, SiteConfig] | None,
    settings: InspectSettings,
    progress: Progress,
) -> InspectResult:
    """`sitedeploy inspect`: the site's latest image (or `settings.image`), its SBOM file,
    and with `verify` a rebuild from the site's current inputs."""
    if settings.verify and (settings.image or loaded is None):
        raise ConfigError("--verify rebuilds a site: give SITE, not --image.")
    if settings.image:
        reference = settings.image
    elif loaded is not None:
        reference = latest_tag(loaded[0])
    else:
        raise ConfigError("inspect needs SITE or --image.")
    if settings.platform:
        if not settings.image:
            raise ConfigError(
                "--platform inspects one CPU's image of a published index: give --image too."
            )
        target = platform(settings.platform)
        with engine.errors(f"Pulling the {target.name} image of {reference}"):
            pulled = engine.client.images.pull(reference, platform=target.name)
        found = inspect_image(engine, str(pulled.id))
        found.image = f"{reference} ({target.name})"
    else:
        found = inspect_image(engine, reference)
    if settings.sbom:
        write_sbom(found, settings.sbom)
    verification = None
    if settings.verify and loaded is not None:
        verification = verify_site(engine, *loaded, progress)
    return InspectResult(found, settings.sbom, verification)


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
        runtimes = []
        for target in platforms(config.platforms, engine.platform, "[publish] platforms"):
            tag, changed = rebuild_runtime(
                engine, config, rebuilt.bases[1], site, target, token, progress
            )
            runtimes.append({"platform": target.name, "runtime": tag, "differences": changed})
        return Verification(
            image=reference,
            content_hash=content,
            rebuilt_content_hash=rebuilt.content_hash,
            site_sha256=labels.get(Label.SITE_SHA256, ""),
            rebuilt_site_sha256=site_digest(rebuilt.built.files),
            differences=differences(before, rebuilt.built),
            runtimes=runtimes,
        )
    finally:
        for tag in (image_tag(site, f"verify-{token}"), builder_tag(site, f"verify-{token}")):
            with contextlib.suppress(SitedeployError), engine.errors(f"Removing {tag}"):
                engine.client.images.remove(tag, noprune=False)
        for folder in (f"verify-{token}", "verify-before"):
            discard_extracted(site, folder)
