"""Signing keys and signatures in cosign's formats (provenance/signing.py), and image
references for `verify`."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.commands.verify import split_reference
from deployer.errors import ConfigError, SigningError
from deployer.provenance.signing import (
    SIGSTORE_PEM,
    new_key,
    payload,
    read_payload,
    read_private_key,
    read_public_key,
    sign,
    signing_key,
    verify,
    write_new_key,
)

DIGEST = "sha256:" + "ab" * 32


def test_a_new_key_is_sealed_with_its_password_and_opens_only_with_it() -> None:
    sealed, public = new_key(b"correct horse")
    assert sealed.startswith(f"-----BEGIN {SIGSTORE_PEM}-----".encode())
    assert b"PRIVATE KEY-----" in sealed and b"correct horse" not in sealed
    key = read_private_key(sealed, b"correct horse", "cosign.key")
    data = payload("registry.test/team/blog", DIGEST)
    assert verify(read_public_key(public, "cosign.pub"), data, sign(key, data))
    with pytest.raises(SigningError, match="the password does not open it"):
        read_private_key(sealed, b"wrong", "cosign.key")
    with pytest.raises(SigningError, match="is encrypted: set SITEDEPLOY_SIGNING_PASSWORD"):
        read_private_key(sealed, None, "cosign.key")


def test_a_signature_holds_only_for_its_payload_and_key() -> None:
    sealed, public = new_key(b"pw")
    key = read_private_key(sealed, b"pw", "k")
    data = payload("registry.test/team/blog", DIGEST)
    signature = sign(key, data)
    other = payload("registry.test/team/blog", "sha256:" + "cd" * 32)
    assert not verify(read_public_key(public, "p"), other, signature)
    _, stranger = new_key(b"pw")
    assert not verify(read_public_key(stranger, "p"), data, signature)
    said = read_payload(data)
    assert said is not None and (said.repository, said.digest) == (
        "registry.test/team/blog",
        DIGEST,
    )
    assert read_payload(b'{"critical": {"type": "something else"}}') is None


def test_the_payload_is_cosigns_simple_signing_document() -> None:
    assert payload("r.test/a", DIGEST) == (
        b'{"critical":{"identity":{"docker-reference":"r.test/a"},"image":'
        b'{"docker-manifest-digest":"' + DIGEST.encode() + b'"},"type":"cosign container '
        b'image signature"},"optional":null}'
    )


def test_keys_new_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SITEDEPLOY_SIGNING_PASSWORD", raising=False)
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    with pytest.raises(SigningError, match="set SITEDEPLOY_SIGNING_PASSWORD"):
        write_new_key(tmp_path / "cosign")
    monkeypatch.setenv("SITEDEPLOY_SIGNING_PASSWORD", "s3cret")
    private, public = write_new_key(tmp_path / "cosign")
    assert private.stat().st_mode & 0o777 == 0o600 and public.name == "cosign.pub"
    assert (
        signing_key(private).public_key().public_numbers()
        == read_public_key(public.read_bytes(), "p").public_numbers()
    )
    with pytest.raises(SigningError, match="already exists"):
        write_new_key(tmp_path / "cosign")
    with pytest.raises(SigningError, match="is not a file"):
        signing_key(tmp_path / "missing.key")


def test_image_references_for_verify() -> None:
    assert split_reference(f"127.0.0.1:5000/team/blog@{DIGEST}") == (
        "127.0.0.1:5000", "team/blog", DIGEST,
    )  # fmt: skip
    assert split_reference("registry.test/team/blog:v1") == ("registry.test", "team/blog", "v1")
    assert split_reference("localhost/blog") == ("localhost", "blog", "latest")
    for bad in ("blog", "team/blog:v1", "registry.test"):
        with pytest.raises(ConfigError, match="does not name an image in a registry"):
            split_reference(bad)
