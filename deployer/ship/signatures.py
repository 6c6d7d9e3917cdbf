"""Signatures in the registry, stored where cosign stores them: beside the image, as the
tag `sha256-<digest>.sig` of the same repository — an OCI manifest whose layers are
simple-signing payloads, each with its signature in the layer's annotation — and signed
attestations (DSSE envelopes, provenance/attestations.py) as `sha256-<digest>.att`. Every OCI
registry accepts it (no referrers API needed), and `cosign verify --key`, skopeo's
`sigstoreSigned` policy (`use-sigstore-attachments: true`) and sitedeploy's own `verify`
read it the same way. Signing and checking are provenance/signing.py's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from deployer.digests import blob_digest
from deployer.errors import RegistryError, SigningError
from deployer.provenance.attestations import (
    DSSE_MEDIA_TYPE,
    covers,
    envelope,
    opened,
    statement,
)
from deployer.provenance.signing import (
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    payload,
    read_payload,
    sign,
    verify,
)
from deployer.ship.registry import OCI_CONFIG, OCI_MANIFEST, Registry


def signature_tag(digest: str) -> str:
    """Where cosign keeps the signatures of `digest`: sha256:abc… -> sha256-abc….sig"""
    return f"{digest.replace(':', '-')}.sig"


@dataclass(frozen=True)
class Signature:
    """A signature pushed for an image."""

    repository: str  # REGISTRY/PATH, as the payload names it
    digest: str  # the manifest digest signed
    tag: str  # where it is stored
    manifest_digest: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": f"{self.repository}:{self.tag}",
            "signed": f"{self.repository}@{self.digest}",
            "manifest_digest": self.manifest_digest,
        }


def attestation_tag(digest: str) -> str:
    """Where cosign keeps the attestations of `digest`: sha256-abc….att"""
    return f"{digest.replace(':', '-')}.att"


def _layers(
    remote: Registry, repository: str, tag: str, media_type: str = SIMPLE_SIGNING
) -> list[dict[str, Any]]:
    """The layers of `media_type` already stored at `tag` (none: an empty list)."""
    found = remote.find_manifest(repository, tag)
    layers = found[1].get("layers", []) if found else []
    return [layer for layer in layers if layer.get("mediaType") == media_type]


def _store(remote: Registry, repository: str, tag: str, layers: list[dict[str, Any]]) -> str:
    """An OCI manifest of `layers` (blobs already there) at `tag`, as cosign writes them."""
    config = json.dumps(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [each["digest"] for each in layers]},
        },
        separators=(",", ":"),
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "size": len(config),
            "digest": remote.put_blob(repository, config),
        },
        "layers": layers,
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    return remote.put_manifest(repository, tag, body, OCI_MANIFEST)


def push_signature(
    remote: Registry, repository: str, digest: str, key: ec.EllipticCurvePrivateKey
) -> Signature:
    """Sign `digest` (in `repository` of `remote`) with `key` and store the signature beside
    the image, keeping the signatures other keys made."""
    name = f"{remote.host}/{repository}"
    data = payload(name, digest)
    tag = signature_tag(digest)
    public = key.public_key()
    kept = []
    for layer in _layers(remote, repository, tag):  # our own earlier ones are replaced
        signature = str((layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION, ""))
        same = layer.get("digest") == blob_digest(data)
        mine = same and verify(public, data, signature)
        if not mine:
            kept.append(layer)
    layer = {
        "mediaType": SIMPLE_SIGNING,
        "size": len(data),
        "digest": remote.put_blob(repository, data),
        "annotations": {SIGNATURE_ANNOTATION: sign(key, data)},
    }
    stored = _store(remote, repository, tag, [*kept, layer])
    return Signature(name, digest, tag, stored)


def push_attestations(
    remote: Registry,
    repository: str,
    digest: str,
    key: ec.EllipticCurvePrivateKey,
    predicates: dict[str, dict[str, Any]],
) -> list[str]:
    """Attest `predicates` (by predicate type) about `digest`, signed with `key`, beside the
    image (sha256-….att); our own earlier ones of the same types are replaced. The types."""
    name = f"{remote.host}/{repository}"
    tag = attestation_tag(digest)
    public = key.public_key()
    kept = []
    for layer in _layers(remote, repository, tag, DSSE_MEDIA_TYPE):
        annotations = layer.get("annotations") or {}
        ours = annotations.get("predicateType") in predicates and opened(
            remote.blob(repository, str(layer.get("digest", ""))), public
        )
        if not ours:
            kept.append(layer)
    layers = list(kept)
    for predicate_type, predicate in predicates.items():
        data = envelope(statement(name, digest, predicate_type, predicate), key)
        layers.append(
            {
                "mediaType": DSSE_MEDIA_TYPE,
                "size": len(data),
                "digest": remote.put_blob(repository, data),
                "annotations": {SIGNATURE_ANNOTATION: "", "predicateType": predicate_type},
            }
        )
    _store(remote, repository, tag, layers)
    return list(predicates)


def verified_attestations(
    remote: Registry, repository: str, digest: str, key: ec.EllipticCurvePublicKey
) -> list[str]:
    """The predicate types attested about `digest` with `key` (its own, for that digest)."""
    found = []
    for layer in _layers(remote, repository, attestation_tag(digest), DSSE_MEDIA_TYPE):
        said = opened(remote.blob(repository, str(layer.get("digest", ""))), key)
        if said is not None and covers(said, digest):
            found.append(str(said.get("predicateType")))
    return sorted(found)


@dataclass(frozen=True)
class Verified:
    """A signature that holds: the key's, for this very digest."""

    repository: str
    digest: str
    signatures: int  # how many of the stored ones the key made for it
    attestations: list[str]  # the predicate types the key attested about it


def verify_signature(
    remote: Registry, repository: str, digest: str, key: ec.EllipticCurvePublicKey, key_name: str
) -> Verified:
    """The image `repository@digest` carries a signature `key` made for that digest; else
    SigningError saying which of unsigned, another key, another digest."""
    name = f"{remote.host}/{repository}"
    try:
        layers = _layers(remote, repository, signature_tag(digest))
    except RegistryError as error:
        raise SigningError(f"{name}@{digest}: its signatures could not be read: {error}") from error
    if not layers:
        raise SigningError(
            f"{name}@{digest} is not signed: no signature is stored beside it "
            f"({signature_tag(digest)}). Publish it with --sign (or [publish] sign = true)."
        )
    good = 0
    other_digest = None
    for layer in layers:
        data = remote.blob(repository, str(layer.get("digest", "")))
        signature = str((layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION, ""))
        said = read_payload(data)
        if said is None or not verify(key, data, signature):
            continue
        if said.digest != digest:
            other_digest = said.digest
            continue
        good += 1
    if good:
        return Verified(name, digest, good, verified_attestations(remote, repository, digest, key))
    if other_digest:
        raise SigningError(
            f"{name}@{digest}: the signature {key_name} made there is for {other_digest}, "
            "another image: this is not the image that was signed."
        )
    raise SigningError(
        f"{name}@{digest} is signed, but not by {key_name} ({len(layers)} signature(s), none "
        "of them its). Check that --key names the public half of the key it was signed with."
    )
