"""The commands about signatures: `keys new` (a signing key pair) and `verify` (is an
image in a registry signed with a key)."""

from __future__ import annotations

from pathlib import Path

import click

from deployer.cli.options import Out, reported
from deployer.commands.verify import verify_image
from deployer.provenance.signing import write_new_key


@click.group()
def keys() -> None:
    """Signing keys for `publish --sign` (ECDSA P-256, cosign's key file format)."""


@keys.command("new")
@click.option(
    "--out",
    "prefix",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("cosign"),
    show_default=True,
    help="Write OUT.key (the private key, encrypted, mode 0600) and OUT.pub.",
)
@reported
def keys_new(out: Out, prefix: Path) -> None:
    """Make a signing key pair: OUT.key, encrypted with the password in
    SITEDEPLOY_SIGNING_PASSWORD (or COSIGN_PASSWORD), and OUT.pub, which verifiers are
    given. cosign reads the key file as its own; an existing file is never overwritten."""
    private, public = write_new_key(prefix.expanduser().resolve())
    out.progress.success(
        f"Wrote {private} (keep it secret; mode 0600) and {public} (give it to whoever "
        "verifies). Sign with: sitedeploy publish --sign --signing-key "
        f"{private.name}"
    )
    out.emit({"ok": True, "private_key": str(private), "public_key": str(public)})


@click.command()
@click.argument("image")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The public key (cosign.pub) the image must be signed with.",
)
@reported
def verify(out: Out, image: str, key_file: Path) -> None:
    """Check that IMAGE (REGISTRY/REPOSITORY@sha256:… or :TAG) in its registry carries a
    signature KEY made for its very digest; exit 1 otherwise (unsigned, another key,
    another digest). Registry credentials as for publish (environment, `docker login`)."""
    verified = verify_image(image, key_file)
    attested = ", ".join(verified.attestations) or "none"
    out.progress.success(
        f"{verified.repository}@{verified.digest} is signed with {key_file} "
        f"({verified.signatures} signature(s) by it); attested by it: {attested}."
    )
    out.emit(
        {
            "ok": True,
            "image": f"{verified.repository}@{verified.digest}",
            "key": str(key_file),
            "signatures": verified.signatures,
            "attestations": verified.attestations,
        }
    )
