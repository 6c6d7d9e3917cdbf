"""Image signatures the way cosign makes them, so that `cosign verify --key` and the
containers/image `sigstoreSigned` policy (skopeo, podman, CRI-O) check them unchanged:

* the key: ECDSA P-256; its private half in cosign's own file format ("ENCRYPTED SIGSTORE
  PRIVATE KEY": PKCS#8 sealed with NaCl secretbox under a scrypt-derived key) or any
  PKCS#8 PEM, its public half a PEM SubjectPublicKeyInfo (`cosign.pub`);
* the payload: the "simple signing" JSON naming the repository and the manifest digest;
* the signature: ECDSA over the payload's SHA-256, ASN.1 DER, base64.

Every primitive is a library's (`cryptography`: keys, scrypt, ECDSA; PyNaCl: secretbox);
this module only puts them together as cosign's formats say. Nothing here talks to a
registry (ship/signatures.py does), and no key or password is ever put in a message.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.utils
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from deployer.errors import SigningError

SIGSTORE_PEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM = "ENCRYPTED COSIGN PRIVATE KEY"  # what cosign wrote before it was renamed
PASSWORD_ENV = ("SITEDEPLOY_SIGNING_PASSWORD", "COSIGN_PASSWORD")  # first one set wins
KEY_ENV = ("SITEDEPLOY_SIGNING_KEY", "COSIGN_PRIVATE_KEY")  # the key itself, from a CI secret
PAYLOAD_TYPE = "cosign container image signature"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
_SCRYPT = {"N": 32768, "r": 8, "p": 1}  # cosign's (go-securesystemslib's) defaults


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pem(kind: str, data: bytes) -> bytes:
    body = base64.encodebytes(data).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----", ""]).encode()


def _unpem(text: bytes) -> tuple[str, bytes] | None:
    lines = text.decode(errors="replace").strip().splitlines()
    if not lines or not lines[0].startswith("-----BEGIN ") or not lines[-1].startswith("-----END"):
        return None
    kind = lines[0].removeprefix("-----BEGIN ").removesuffix("-----")
    try:
        return kind, base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError:
        return None


def _box(password: bytes, salt: bytes, params: dict[str, int]) -> nacl.secret.SecretBox:
    key = Scrypt(salt=salt, length=32, n=params["N"], r=params["r"], p=params["p"]).derive(password)
    return nacl.secret.SecretBox(key)


def encrypt_key(key: ec.EllipticCurvePrivateKey, password: bytes) -> bytes:
    """The private key in cosign's encrypted file format."""
    plain = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, nonce = os.urandom(32), nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    sealed = _box(password, salt, _SCRYPT).encrypt(plain, nonce).ciphertext
    document = {
        "kdf": {"name": "scrypt", "params": _SCRYPT, "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    return _pem(SIGSTORE_PEM, json.dumps(document).encode())


def new_key(password: bytes) -> tuple[bytes, bytes]:
    """A new ECDSA P-256 key: (its private half encrypted with `password`, its public PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return encrypt_key(key, password), public_pem(key.public_key())


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def read_private_key(text: bytes, password: bytes | None, where: str) -> ec.EllipticCurvePrivateKey:
    """A signing key from cosign's encrypted format or a PKCS#8 PEM; SigningError naming
    `where` (a file, a variable) and the fix."""
    found = _unpem(text)
    if found is not None and found[0] in {SIGSTORE_PEM, COSIGN_PEM}:
        if not password:
            raise SigningError(
                f"{where} is encrypted: set {PASSWORD_ENV[0]} (or {PASSWORD_ENV[1]}) to its "
                "password."
            )
        try:
            document: dict[str, Any] = json.loads(found[1])
            params = document["kdf"]["params"]
            box = _box(password, base64.b64decode(document["kdf"]["salt"]), params)
            plain = box.decrypt(
                base64.b64decode(document["ciphertext"]),
                base64.b64decode(document["cipher"]["nonce"]),
            )
        except nacl.exceptions.CryptoError as error:
            raise SigningError(
                f"{where}: the password does not open it. Check {PASSWORD_ENV[0]}."
            ) from error
        except (ValueError, KeyError, TypeError) as error:
            raise SigningError(f"{where} is not a cosign key file it can read: {error}") from error
        key = serialization.load_der_private_key(plain, None)
    else:
        try:
            key = serialization.load_pem_private_key(text, password or None)
        except (ValueError, TypeError) as error:
            raise SigningError(
                f"{where} is not a private key sitedeploy can read ({error}). Give a cosign key "
                "file (`sitedeploy keys new` makes one) or a PKCS#8 PEM."
            ) from error
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise SigningError(f"{where} is not an ECDSA P-256 key, which cosign signatures use.")
    return key


def read_public_key(text: bytes, where: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(text)
    except ValueError as error:
        raise SigningError(
            f"{where} is not a public key (PEM) sitedeploy can read: give the cosign.pub that "
            "`sitedeploy keys new` (or `cosign generate-key-pair`) wrote."
        ) from error
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SigningError(f"{where} is not an ECDSA public key, which cosign signatures use.")
    return key


def payload(repository: str, digest: str) -> bytes:
    """The simple-signing payload for `digest` in `repository` (REGISTRY/PATH), as cosign
    writes it."""
    document = {
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPE,
        },
        "optional": None,
    }
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Signed:
    """What a payload says it signs."""

    repository: str
    digest: str


def read_payload(data: bytes) -> Signed | None:
    """The repository and digest a simple-signing payload names (None: not one)."""
    try:
        critical = json.loads(data)["critical"]
        if critical["type"] != PAYLOAD_TYPE:
            return None
        return Signed(
            str(critical["identity"]["docker-reference"]),
            str(critical["image"]["docker-manifest-digest"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    return _b64(key.sign(data, ec.ECDSA(hashes.SHA256())))


def verify(key: ec.EllipticCurvePublicKey, data: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature), data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _password() -> bytes | None:
    found = next((os.environ[name] for name in PASSWORD_ENV if os.environ.get(name)), None)
    return found.encode() if found else None


def signing_key(path: Path | None) -> ec.EllipticCurvePrivateKey:
    """The key to sign with: the file `path`, else the key itself in SITEDEPLOY_SIGNING_KEY
    (or COSIGN_PRIVATE_KEY); its password from SITEDEPLOY_SIGNING_PASSWORD (or
    COSIGN_PASSWORD). SigningError, before anything is pushed, when there is none."""
    if path is not None:
        if not path.is_file():
            raise SigningError(
                f"[publish] signing_key (--signing-key): {path} is not a file. Make a key with "
                "`sitedeploy keys new`, or fix the path."
            )
        return read_private_key(path.read_bytes(), _password(), str(path))
    for name in KEY_ENV:
        if os.environ.get(name):
            return read_private_key(os.environ[name].encode(), _password(), name)
    raise SigningError(
        "publish --sign ([publish] sign = true) needs a key: --signing-key FILE ([publish] "
        f"signing_key), or the key itself in {KEY_ENV[0]}. `sitedeploy keys new` makes one. "
        "Nothing was pushed."
    )


def write_new_key(prefix: Path) -> tuple[Path, Path]:
    """`sitedeploy keys new`: PREFIX.key (encrypted, mode 0600) and PREFIX.pub; never over
    an existing file."""
    private, public = prefix.with_name(f"{prefix.name}.key"), prefix.with_name(f"{prefix.name}.pub")
    existing = [str(path) for path in (private, public) if path.exists()]
    if existing:
        raise SigningError(
            f"{', '.join(existing)} already exists: a key is never overwritten (its images "
            "would no longer verify). Choose another --out, or remove it yourself."
        )
    password = _password()
    if not password:
        raise SigningError(
            f"keys new: set {PASSWORD_ENV[0]} (or {PASSWORD_ENV[1]}) to the password that "
            "will protect the private key (it is read from the environment only)."
        )
    sealed, open_half = new_key(password)
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(sealed)
    public.write_bytes(open_half)
    return private, public
