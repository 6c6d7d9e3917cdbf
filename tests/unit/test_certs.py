"""A certificate and key a user gives: read, matched, dated and named before anything
changes; a certificate's renewal time (a third of its life left)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deployer.certs import leaf_info, read_given_pair

NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


def _pair(
    folder: Path, names: list[str], days: tuple[int, int] = (-1, 89), encrypted: bool = False
) -> tuple[Path, Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")]))
        .public_key(key.public_key())
        .serial_number(1234)
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    cert, key_path = folder / "site.crt", folder / "site.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    encryption = (
        serialization.BestAvailableEncryption(b"secret")
        if encrypted
        else serialization.NoEncryption()
    )
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return cert, key_path, key


def test_a_good_pair_is_one_file_key_first(tmp_path: Path) -> None:
    cert, key, _ = _pair(tmp_path, ["example.com", "www.example.com"])
    pair, problems = read_given_pair(cert, key, ("example.com", "www.example.com"), NOW)
    assert problems == [] and pair is not None
    assert pair.pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pair.info.names == ("example.com", "www.example.com") and pair.info.serial == "4d2"
    info = leaf_info(pair.pem)
    assert info is not None and info.issuer == "Test CA"
    assert info.renew_at == NOW + dt.timedelta(days=59)  # 90 days' life, a third left


def test_a_key_that_does_not_match(tmp_path: Path) -> None:
    cert, _, _ = _pair(tmp_path, ["example.com"])
    other = tmp_path / "other"
    other.mkdir()
    _, other_key, _ = _pair(other, ["example.com"])
    pair, problems = read_given_pair(cert, other_key, (), NOW)
    assert pair is None and problems == [
        f"{other_key} is not the key of {cert} (their public keys differ): give the key the "
        "certificate was issued for"
    ]


def test_expired_and_missing_names_are_each_said(tmp_path: Path) -> None:
    cert, key, _ = _pair(tmp_path, ["example.com"], days=(-90, -1))
    _, problems = read_given_pair(cert, key, ("example.com", "www.example.com"), NOW)
    assert any("expired on 2026-12-05" in problem for problem in problems)
    assert any("does not name www.example.com" in problem for problem in problems)


def test_a_wildcard_covers_one_label(tmp_path: Path) -> None:
    cert, key, _ = _pair(tmp_path, ["*.example.com"])
    _, problems = read_given_pair(cert, key, ("www.example.com",), NOW)
    assert problems == []
    _, problems = read_given_pair(cert, key, ("a.b.example.com",), NOW)
    assert problems and "does not name a.b.example.com" in problems[0]


def test_an_encrypted_key_and_a_file_that_is_no_certificate(tmp_path: Path) -> None:
    cert, key, _ = _pair(tmp_path, ["example.com"], encrypted=True)
    _, problems = read_given_pair(cert, key, (), NOW)
    assert "is encrypted" in problems[0]
    (tmp_path / "junk.crt").write_text("not a certificate")
    _, problems = read_given_pair(tmp_path / "junk.crt", key, (), NOW)
    assert "not a PEM certificate chain" in problems[0]
