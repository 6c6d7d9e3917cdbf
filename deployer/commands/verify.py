"""`sitedeploy verify IMAGE --key cosign.pub`, and a deploy with [deploy] verify_key: is
the image in its registry signed with that key, for its very digest (ship/signatures.py
reads what cosign would read)?"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from deployer.config_checks import is_image_reference
from deployer.errors import ConfigError
from deployer.progress import Progress
from deployer.provenance.signing import read_public_key
from deployer.ship.registry import Credentials, Registry, registry_credentials
from deployer.ship.signatures import Verified, verify_signature


def split_reference(image: str) -> tuple[str, str, str]:
    """REGISTRY/REPOSITORY@sha256:… or REGISTRY/REPOSITORY:TAG -> (registry, repository,
    digest or tag)."""
    name, _, digest = image.partition("@")
    if not digest:
        head, _, tag = name.rpartition(":")
        name, reference = (head, tag) if tag and "/" not in tag else (name, "latest")
    else:
        reference = digest
    registry, _, repository = name.partition("/")
    host = "." in registry or ":" in registry or registry == "localhost"  # docker's rule
    if not repository or not host or not is_image_reference(image):
        raise ConfigError(
            f"verify: {image!r} does not name an image in a registry: give "
            "REGISTRY/REPOSITORY@sha256:… (what `publish` printed) or REGISTRY/REPOSITORY:TAG."
        )
    return registry, repository, reference


def verify_image(image: str, key_file: Path) -> Verified:
    registry, repository, reference = split_reference(image)
    key = read_public_key(key_file.read_bytes(), str(key_file))
    remote = Registry(registry, registry_credentials(registry, None, False))
    digest = reference
    if not reference.startswith("sha256:"):
        digest, _manifest = remote.manifest(repository, reference)
    return verify_signature(remote, repository, digest, key, str(key_file))


def verify_published(
    registry: str,
    repository: str,
    digest: str,
    key_file: Path,
    credentials: Credentials | None,
    progress: Progress,
) -> Verified:
    """Before a deploy runs `registry/repository@digest`: SigningError unless `key_file`
    signed that very digest."""
    key = verify_key(key_file)
    with progress.step(f"Verifying the signature of {registry}/{repository}@{digest}"):
        return verify_signature(
            Registry(registry, credentials), repository, digest, key, str(key_file)
        )


def verify_key(key_file: Path) -> ec.EllipticCurvePublicKey:
    """[deploy] verify_key, read (a deploy reads it before it builds anything)."""
    if not key_file.is_file():
        raise ConfigError(
            f"[deploy] verify_key (--verify-key): {key_file} is not a file: give the public key "
            "(cosign.pub) images must be signed with. Nothing was built or changed."
        )
    return read_public_key(key_file.read_bytes(), str(key_file))
