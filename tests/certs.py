"""Certificates made for tests: a CA of the test's own (its certificate in ca.pem) and
leaf certificates it signs, for the names a test serves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

NAMES = ("example.test", "www.example.test")


def make_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sitedeploy test CA")])
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca, key


def make_leaf(
    folder: Path, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], name: str,
    days: tuple[int, int] = (-1, 30), names: tuple[str, ...] = NAMES, ocsp: str | None = None,
) -> tuple[Path, Path, int]:  # fmt: skip
    """A leaf for `names` signed by `ca` (with `ocsp`: naming that OCSP responder)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    serial = x509.random_serial_number()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca[0].subject).public_key(key.public_key()).serial_number(serial)
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    )  # fmt: skip
    if ocsp is not None:
        where = x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([where]), False)
    leaf = builder.sign(ca[1], hashes.SHA256())
    cert, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )  # fmt: skip
    return cert, key_path, serial
