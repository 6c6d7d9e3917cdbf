"""Signed attestations about a published image, the way `cosign attest` makes them: an
in-toto Statement (v1) naming the image by digest, with a predicate — the CycloneDX SBOM
`inspect --sbom` writes, or a SLSA v1 provenance of how the image was built (its inputs'
hash, the base images and their digests, the gems) — wrapped in a DSSE envelope signed
with the publish key. The envelope is securesystemslib's (its PAE, its signer over
`cryptography`); `cosign verify-attestation --key` reads it.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from deployer import __version__
from deployer.labels import BaseStage, Label, base
from deployer.provenance.sbom import gems_from_labels

IN_TOTO = "application/vnd.in-toto+json"
STATEMENT = "https://in-toto.io/Statement/v1"
CYCLONEDX = "https://cyclonedx.org/bom"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/sitedeploy/sitedeploy/jekyll-nginx/v1"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"


def statement(name: str, digest: str, predicate_type: str, predicate: dict[str, Any]) -> bytes:
    """An in-toto Statement about `name@digest` (sha256:…)."""
    algorithm, _, value = digest.partition(":")
    document = {
        "_type": STATEMENT,
        "subject": [{"name": name, "digest": {algorithm: value}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def envelope(data: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """`data` (a statement) in a DSSE envelope signed with `key`."""
    wrapped = Envelope(data, IN_TOTO, {})
    wrapped.sign(CryptoSigner(key))
    return json.dumps(wrapped.to_dict(), separators=(",", ":")).encode()


def opened(data: bytes, key: ec.EllipticCurvePublicKey) -> dict[str, Any] | None:
    """The statement in a DSSE envelope `key` signed (None: not one, or not its)."""
    try:
        wrapped = Envelope.from_dict(json.loads(data))
        wrapped.verify([SSlibKey.from_crypto(key)], 1)
        found = json.loads(wrapped.payload)
    except (ValueError, KeyError, TypeError, VerificationError):
        return None
    return found if isinstance(found, dict) and wrapped.payload_type == IN_TOTO else None


def covers(found: dict[str, Any], digest: str) -> bool:
    """Does a statement name `digest` among its subjects?"""
    algorithm, _, value = digest.partition(":")
    subjects = found.get("subject") or []
    return any((each.get("digest") or {}).get(algorithm) == value for each in subjects)


def slsa_provenance(labels: dict[str, str]) -> dict[str, Any]:
    """How the image was built, from what its labels recorded (what `inspect` shows)."""
    dependencies: list[dict[str, Any]] = []
    for stage in BaseStage:
        requested, _, image_id = labels.get(base(stage), "").partition(" ")
        if not requested:
            continue
        digest = labels.get(base(stage, "digest")) or image_id
        algorithm, _, value = digest.rpartition("@")[2].partition(":")
        dependencies.append(
            {
                "name": stage.value,
                "uri": f"docker-image://{labels.get(base(stage, 'reference'), requested)}",
                "digest": {algorithm or "sha256": value},
                "annotations": {"origin": labels.get(base(stage, "origin")) or "unknown"},
            }
        )
    created = labels.get(Label.CREATED)
    for gem in gems_from_labels(labels):
        dependencies.append(
            {
                "name": gem.name,
                "uri": f"pkg:gem/{gem.name}@{gem.version}",
                "annotations": {"from": gem.origin},
            }
        )
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "site": labels.get(Label.TITLE, ""),
                "baseurl": labels.get(Label.BASEURL, ""),
            },
            "internalParameters": {
                "gems": labels.get(Label.GEMS_WAY, ""),
                "inputsHash": labels.get(Label.CONTENT_HASH, ""),
                "siteSha256": labels.get(Label.SITE_SHA256, ""),
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {
                "id": f"{BUILD_TYPE}#sitedeploy",
                "version": {"sitedeploy": labels.get(Label.VERSION, __version__)},
            },
            "metadata": {"startedOn": created} if created else {},
        },
    }
