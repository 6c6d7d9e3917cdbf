"""`sitedeploy publish`: push the image `up` previewed to a registry, and verify it there.

The image is the one built for the site's current content (reused, not rebuilt, when
nothing changed); ship/publish.py pushes every tag and reads it back through the
registry's API; with [publish] sign (--sign), ship/signatures.py stores its signature
beside it, and signed attestations of its SBOM (CycloneDX) and provenance (SLSA), the way
cosign does.
"""

from __future__ import annotations

import json
import time

from deployer.config import SiteConfig, site_file
from deployer.engine import Engine
from deployer.image.images import build_site
from deployer.progress import Progress
from deployer.provenance.attestations import CYCLONEDX, SLSA_PROVENANCE, slsa_provenance
from deployer.provenance.inspect import runtime_suite
from deployer.provenance.sbom import cyclonedx
from deployer.provenance.signing import signing_key
from deployer.ship.publish import (
    PublishResult,
    PublishSettings,
    default_tags,
    push_site,
    validate_target,
)
from deployer.ship.registry import Registry
from deployer.ship.signatures import push_attestations, push_signature
from deployer.site import Site


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
    tags = tags or default_tags(site, images.content_hash)
    result = push_site(engine, remote, repository, tags, images, settings, progress)
    if key is not None and result.digest:
        pinned = f"{registry}/{repository}@{result.digest}"
        with progress.step(f"Signing {pinned}, with its SBOM and provenance"):
            signature = push_signature(remote, repository, result.digest, key).as_dict()
            image = engine.find_image(images.image.id)
            labels = dict(image.labels or {}) if image else {}
            predicates = {
                CYCLONEDX: json.loads(
                    cyclonedx(pinned, images.image.id, labels, runtime_suite(labels))
                ),
                SLSA_PROVENANCE: slsa_provenance(labels),
            }
            attested = push_attestations(remote, repository, result.digest, key, predicates)
            result.signature = {**signature, "attestations": attested}
    result.seconds = time.monotonic() - started
    return result
