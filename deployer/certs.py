"""Certificates as sitedeploy reads them (with `cryptography`): who a certificate names,
who issued it, when it expires and when it is renewed; a certificate and key a user gives,
checked before anything is changed.

The front reads one PEM file per site: the private key, then the chain (leaf first).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from deployer.errors import CertificateError

RENEW_FRACTION = 3  # renewed when a third of its life is left, as certbot and Caddy do


@dataclass(frozen=True)
class CertificateInfo:
    """A leaf certificate, as `status` shows it."""

    names: tuple[str, ...]
    issuer: str
    serial: str  # hex
    not_before: dt.datetime
    not_after: dt.datetime
    ocsp: str | None  # the responder it names (None: no stapling to do)

    @property
    def renew_at(self) -> dt.datetime:
        return self.not_after - (self.not_after - self.not_before) / RENEW_FRACTION

    def covers(self, names: tuple[str, ...]) -> bool:
        return all(any(_matches(pattern, name) for pattern in self.names) for name in names)

    def as_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "renew_at": self.renew_at.isoformat(),
            "ocsp": self.ocsp,
        }


def _matches(pattern: str, name: str) -> bool:
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def _common_name(name: x509.Name) -> str:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    organisation = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    value = str(found[0].value) if found else name.rfc4514_string()
    owner = str(organisation[0].value) if organisation else ""
    return f"{value} ({owner})" if owner and owner not in value else value


def describe(certificate: x509.Certificate) -> CertificateInfo:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    ocsp = None
    try:
        access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
        ocsp = next(
            (
                str(each.access_location.value)
                for each in access.value
                if each.access_method == AuthorityInformationAccessOID.OCSP
            ),
            None,
        )
    except x509.ExtensionNotFound:
        pass
    return CertificateInfo(
        names=names,
        issuer=_common_name(certificate.issuer),
        serial=f"{certificate.serial_number:x}",
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        ocsp=ocsp,
    )


def leaf_info(pem: bytes) -> CertificateInfo | None:
    """The first certificate in `pem` (a chain, or the front's key-and-chain file)."""
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError:
        return None
    return describe(chain[0]) if chain else None


@dataclass(frozen=True)
class GivenPair:
    """A certificate and key the user gives, read and checked."""

    info: CertificateInfo
    key: bytes  # PEM, unencrypted
    chain: bytes  # PEM, leaf first

    @property
    def pem(self) -> bytes:
        """What the front reads: the key, then the chain."""
        return self.key + self.chain


def _public(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def read_given_pair(
    cert: Path, key: Path, names: tuple[str, ...], now: dt.datetime | None = None
) -> tuple[GivenPair | None, list[str]]:
    """Read `cert` (a PEM chain, leaf first) and `key`; every problem names the file and
    says what to do."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        chain = x509.load_pem_x509_certificates(cert.read_bytes())
    except (OSError, ValueError) as error:
        return None, [
            f"{cert}: not a PEM certificate chain ({error}): give the full chain, leaf first"
        ]
    try:
        private: PrivateKeyTypes = serialization.load_pem_private_key(key.read_bytes(), None)
    except TypeError:
        return None, [
            f"{key}: the private key is encrypted; nginx would ask for its passphrase at every "
            "start. Give it decrypted (`openssl pkey -in KEY -out KEY.plain`), readable only by you"
        ]
    except (OSError, ValueError) as error:
        return None, [f"{key}: not a PEM private key ({error})"]
    leaf = chain[0]
    info = describe(leaf)
    problems = []
    if _public(leaf.public_key()) != _public(private.public_key()):
        problems.append(
            f"{key} is not the key of {cert} (their public keys differ): give the key the "
            "certificate was issued for"
        )
    if info.not_after <= now:
        problems.append(
            f"{cert} expired on {info.not_after:%Y-%m-%d %H:%M} UTC: renew it with its CA, or "
            "leave [tls] cert and key unset to have sitedeploy get one over ACME"
        )
    elif info.not_before > now:
        problems.append(f"{cert} is valid only from {info.not_before:%Y-%m-%d %H:%M} UTC")
    missing = [name for name in names if not info.covers((name,))]
    if missing:
        problems.append(
            f"{cert} does not name {', '.join(missing)} (it names "
            f"{', '.join(info.names) or 'no host name'}): give a certificate for every name "
            "in [tls] domains"
        )
    if problems:
        return None, problems
    key_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain_pem = b"".join(each.public_bytes(serialization.Encoding.PEM) for each in chain)
    return GivenPair(info, key_pem, chain_pem), []


def given_pair(cert: Path, key: Path, names: tuple[str, ...], fix: str) -> GivenPair:
    """`read_given_pair`, every problem said at once in a CertificateError ended by `fix`."""
    pair, problems = read_given_pair(cert, key, names)
    if pair is None:
        raise CertificateError(" ".join(problems) + f". {fix}")
    return pair
