"""`sitedeploy publish`: push the image `up` previewed to a registry, and verify it there.

The image is the one built for the site's current content (reused, not rebuilt, when
nothing changed); ship/publish.py pushes every tag and reads it back through the
registry's API. For several CPUs ([publish] platforms, --platform; by default amd64 and
arm64) image/runtime.py builds each other CPU's runtime once and ship/platform_index.py
composes that CPU's image from it and the pushed site layers, then pushes one index
under every tag. With [publish] sign (--sign), ship/signatures.py stores a signature
beside the index and beside each platform's image, and signed attestations of each
image's SBOM (CycloneDX) and provenance (SLSA), the way cosign does.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from deployer.config import SiteConfig, site_file
from deployer.engine import Engine
from deployer.image.images import build_site
from deployer.image.runtime import runtimes_for
from deployer.platforms import platforms
from deployer.progress import Progress
from deployer.provenance.attestations import CYCLONEDX, SLSA_PROVENANCE, slsa_provenance
from deployer.provenance.inspect import runtime_suite
from deployer.provenance.sbom import cyclonedx
from deployer.provenance.signing import signing_key
from deployer.ship.platform_index import push_index, remember_index, runtime_parts
from deployer.ship.publish import (
    PublishResult,
    PublishSettings,
    default_tags,
    push_site,
    validate_target,
)
from deployer.ship.registry import Registry
from deployer.ship.signatures import push_attestations, push_signature
from deployer.site import Site, user_cache


def publish(
    engine: Engine, site: Site, config: SiteConfig, progress: Progress, settings: PublishSettings
) -> PublishResult:
    """Build (or reuse) the site's image, push every tag, verify the registry holds it."""
    registry, repository = settings.target(config)
    tags = list(settings.tags)
    validate_target(registry, repository, tags)
    key = None
    if config.sign and not settings.dry_run:  # no key, no password: said before any push
        key = signing_key(site_file(site.path, config.signing_key))
    started = time.monotonic()
    remote = Registry(registry, settings.credentials)
    if not settings.dry_run:
        with progress.step(f"Asking {registry} whether it is a registry"):
            remote.ping()
    images = build_site(engine, site, config, progress)
    native = engine.platform
    targets = platforms(config.platforms, native, "[publish] platforms / --platform")
    # Another CPU's runtime is built (once) before anything is pushed: if it cannot be,
    # the registry is left as it was.
    runtimes = (
        {}
        if settings.dry_run
        else runtimes_for(engine, site, config, images.bases[1], targets, progress)
    )
    tags = tags or default_tags(site, images.content_hash)
    result = push_site(engine, remote, repository, tags, images, settings, progress)
    result.targets = [target.name for target in targets]
    if settings.dry_run or not result.digest:
        result.seconds = time.monotonic() - started
        return result
    image = engine.find_image(images.image.id)
    own = (images.image.id, dict(image.labels or {}) if image else {})
    if targets != [native]:
        names = ", ".join(target.name for target in targets)
        with progress.step(f"Pushing one index for {names}"):
            cache = user_cache() / "layers"
            parts = {t: runtime_parts(engine, info.tag, cache) for t, info in runtimes.items()}
            runtime = engine.find_image(images.runtime.id)
            pushed = result.digest
            result.digest, result.platforms = push_index(
                remote, repository, tags, native, pushed,
                dict(runtime.labels or {}) if runtime else {}, parts, native in targets,
            )  # fmt: skip
            auth = settings.credentials.as_auth_config() if settings.credentials else None
            mine = result.digest if native in targets else None
            remember_index(engine, f"{registry}/{repository}", pushed, mine, auth)
    if key is not None:
        with progress.step("Signing what was pushed, with SBOMs and provenance"):
            result.signature = _sign(remote, f"{registry}/{repository}", result, own, key)
    result.seconds = time.monotonic() - started
    return result


def _sign(
    remote: Registry,
    name: str,
    result: PublishResult,
    own: tuple[str, dict[str, str]],
    key: ec.EllipticCurvePrivateKey,
) -> dict[str, Any]:
    """Sign what the tags name (the index, or the one image) and each platform's image;
    each gets signed attestations of its SBOM and provenance (an index those of the image
    built here, on the engine's own CPU)."""
    images = {str(result.digest): own}
    images.update({i.digest: (i.config_digest, i.labels) for i in result.platforms})
    signed: dict[str, Any] = {}
    for digest, (image_id, labels) in images.items():
        signature = push_signature(remote, result.repository, digest, key).as_dict()
        predicates = {
            CYCLONEDX: json.loads(
                cyclonedx(f"{name}@{digest}", image_id, labels, runtime_suite(labels))
            ),
            SLSA_PROVENANCE: slsa_provenance(labels),
        }
        attested = push_attestations(remote, result.repository, digest, key, predicates)
        if digest == result.digest:
            signed = {**signature, "attestations": attested}
    return {**signed, "platforms": [image.digest for image in result.platforms]}
