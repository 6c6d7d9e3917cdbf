"""sitedeploy's certificate renewer: runs beside a live site's front, in its own container.

It gets a certificate for the site's names from an ACME directory with certbot's `acme`
library (RFC 8555; HTTP-01, answered by the front from /tls/challenges, or TLS-ALPN-01,
RFC 8737, from /tls/alpn), and renews it when a third of its life is left, as certbot and
Caddy do. The front reads the key and chain from one file, /tls/live/site.pem, at every
TLS handshake; the renewer replaces that file in one rename, so a renewal reaches new
connections without reloading nginx, and keep-alive connections carry on. The site's key
is kept across renewals (so the one file never pairs a new chain with an old key
mid-read).

    renewer.py once SETTINGS   get a certificate unless the one there does; exit 0 or 1
    renewer.py run SETTINGS    the same, then again whenever one is due, forever

SETTINGS is JSON: {"directory", "email", "domains", "eab_kid", "challenge"}. The account
key, the site's key and the EAB key (a file, never an argument) live in /acme, which only
this container mounts (on a swarm, the EAB key is a secret). What it did is in
/tls/status.json (no secret is ever written there or printed); healthy.py, its health
check, reads it.
This file is rendered into the renewer image by sitedeploy; it imports only the standard
library, `acme`, `josepy` and `cryptography` (Debian's python3-acme).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import josepy
import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ACME = Path("/acme")
TLS = Path("/tls")
LIVE = TLS / "live" / "site.pem"
SOURCE = TLS / "live" / "source"
CHALLENGES = TLS / "challenges"  # HTTP-01 answers (the front serves them on port 80)
ALPN = TLS / "alpn"  # TLS-ALPN-01 answers (the front's stream router hands them out)
HTTP_01, TLS_ALPN_01 = "http-01", "tls-alpn-01"
ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")  # id-pe-acmeIdentifier
STATUS = TLS / "status.json"
# The EAB key: a file in /acme (a server) or a swarm secret (a swarm).
EAB_HMAC = (ACME / "eab-hmac", Path("/run/secrets/sitedeploy-eab-hmac"))
RENEW_FRACTION = 3
RETRY_FIRST, RETRY_MOST = 60.0, 3600.0  # seconds between failed attempts (doubling)
CHECK_EVERY = 3600.0  # look again at least this often
USER_AGENT = "sitedeploy-renewer (acme-python)"


class Failure(Exception):
    """One attempt failed; the message is for people (and status.json)."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def say(message: str) -> None:
    print(f"{now():%Y-%m-%dT%H:%M:%SZ} {message}", flush=True)


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    temporary.chmod(mode)
    temporary.replace(path)


def private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The key at `path`, made (ECDSA P-256) the first time."""
    if path.exists():
        loaded = serialization.load_pem_private_key(path.read_bytes(), None)
        if isinstance(loaded, ec.EllipticCurvePrivateKey):
            return loaded
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomically(path, pem, 0o600)
    return key


def leaf(pem: bytes) -> x509.Certificate:
    """The first certificate of a PEM file (Debian's cryptography 38 reads one at a time)."""
    start = pem.index(b"-----BEGIN CERTIFICATE-----")
    return x509.load_pem_x509_certificate(pem[start:])


def not_before(certificate: x509.Certificate) -> dt.datetime:
    return certificate.not_valid_before.replace(tzinfo=dt.UTC)


def not_after(certificate: x509.Certificate) -> dt.datetime:
    return certificate.not_valid_after.replace(tzinfo=dt.UTC)


def current(settings: dict[str, Any]) -> x509.Certificate | None:
    """The certificate the front serves, if this directory issued it for these names."""
    try:
        source = SOURCE.read_text().strip()
        certificate = leaf(LIVE.read_bytes())
    except (OSError, ValueError):
        return None
    if source != f"acme {settings['directory']}":
        return None
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    if sorted(names.value.get_values_for_type(x509.DNSName)) != sorted(settings["domains"]):
        return None
    return certificate


def renew_at(certificate: x509.Certificate) -> dt.datetime:
    return (
        not_after(certificate) - (not_after(certificate) - not_before(certificate)) / RENEW_FRACTION
    )


def account(settings: dict[str, Any]) -> client.ClientV2:
    """A client signed in to the directory: the account made once, then found again."""
    key = private_key(ACME / "account.pem")
    jwk = josepy.JWKEC(key=key)
    net = client.ClientNetwork(jwk, alg=josepy.ES256, user_agent=USER_AGENT)
    directory_url = settings["directory"]
    acme = client.ClientV2(client.ClientV2.get_directory(directory_url, net), net)
    known_path = ACME / "accounts.json"
    known = json.loads(known_path.read_text()) if known_path.exists() else {}
    if directory_url in known:
        net.account = messages.RegistrationResource(
            uri=known[directory_url], body=messages.Registration()
        )
        return acme
    binding = None
    if settings.get("eab_kid"):
        hmac_path = next((path for path in EAB_HMAC if path.exists()), None)
        if hmac_path is None:
            raise Failure(f"{directory_url} needs External Account Binding: no EAB key was given")
        binding = messages.ExternalAccountBinding.from_data(
            account_public_key=jwk.public_key(),
            kid=settings["eab_kid"],
            hmac_key=hmac_path.read_text().strip(),
            directory=acme.directory,
        )
    registration = messages.NewRegistration.from_data(
        email=settings["email"], terms_of_service_agreed=True, external_account_binding=binding
    )
    try:
        uri = acme.new_account(registration).uri
    except errors.ConflictError as existing:  # the key has an account there already
        uri = existing.location
        net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
    known[directory_url] = uri
    write_atomically(known_path, json.dumps(known).encode(), 0o600)
    return acme


def alpn_certificate(name: str, digest: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """TLS-ALPN-01's answer for `name` (RFC 8737): the key, then a self-signed certificate
    for the name alone, whose critical id-pe-acmeIdentifier extension holds the SHA-256 of
    the key authorization (`digest`, the library's) as a DER OCTET STRING. Made with
    `cryptography`: acme 2.1's own gen_cert still uses the draft's OID (1.3.6.1.5.5.7.1.30.1),
    which CAs no longer accept."""
    start = now() - dt.timedelta(minutes=5)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(ACME_IDENTIFIER, b"\x04\x20" + digest), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + certificate.public_bytes(serialization.Encoding.PEM)


def answer(
    acme: client.ClientV2,
    authorization: messages.AuthorizationResource,
    kind: str,
    site_key: ec.EllipticCurvePrivateKey,
) -> Path:
    """Put the answer to one authorization's challenge of `kind` where the front serves
    it, tell the directory; the answer's file (removed once the order is done)."""
    name = authorization.body.identifier.value
    wanted = challenges.TLSALPN01 if kind == TLS_ALPN_01 else challenges.HTTP01
    challenge = next(
        (c for c in authorization.body.challenges if isinstance(c.chall, wanted)), None
    )
    if challenge is None:
        raise Failure(f"the directory offers no {kind.upper()} challenge for {name}")
    response = challenge.response(acme.net.key)
    if kind == TLS_ALPN_01:
        data = alpn_certificate(name, response.h, site_key)
        answer_file, mode = ALPN / f"{name}.pem", 0o640
    else:
        data = challenge.validation(acme.net.key).encode()
        answer_file, mode = CHALLENGES / challenge.chall.encode("token"), 0o644
    write_atomically(answer_file, data, mode)
    acme.answer_challenge(challenge, response)
    return answer_file


def obtain(settings: dict[str, Any]) -> x509.Certificate:
    """Order a certificate for the settings' names, answer their challenges, install it."""
    acme = account(settings)
    site_key = private_key(ACME / "site-key.pem")
    key_pem = site_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    order = acme.new_order(crypto_util.make_csr(key_pem, settings["domains"]))
    kind = settings.get("challenge") or HTTP_01
    answered = []
    try:
        for authorization in order.authorizations:
            if authorization.body.status != messages.STATUS_VALID:
                answered.append(answer(acme, authorization, kind, site_key))
        deadline = dt.datetime.now() + dt.timedelta(seconds=120)  # acme 2.1 compares naive
        finished = acme.poll_and_finalize(order, deadline=deadline)
    finally:
        for answer_file in answered:
            answer_file.unlink(missing_ok=True)
    chain = finished.fullchain_pem.encode()
    write_atomically(LIVE, key_pem + chain, 0o640)
    write_atomically(SOURCE, f"acme {settings['directory']}\n".encode(), 0o644)
    return leaf(chain)


def explain(error: Exception, settings: dict[str, Any]) -> str:
    """What went wrong, in one line: the directory's own words where it gave them."""
    where = settings["directory"]
    if isinstance(error, errors.ValidationError):
        details = []
        for authorization in error.failed_authzrs:
            for challenge in authorization.body.challenges:
                if challenge.error is not None:
                    name = authorization.body.identifier.value
                    details.append(f"{name}: {challenge.error.detail or challenge.error.typ}")
        return f"{where} could not validate: {'; '.join(details) or error}"
    if isinstance(error, messages.Error):
        return f"{where} refused: {error.detail or error.typ} ({error.typ})"
    if isinstance(error, requests.RequestException):
        return f"{where} did not answer: {error}"
    if isinstance(error, errors.TimeoutError):
        return f"{where} did not finish the order in time"
    return f"{where}: {error}"


def write_status(
    state: str, settings: dict[str, Any], error: str | None, next_at: dt.datetime | None
) -> None:
    """What the last attempt did, and the certificate in place (healthy.py reads it)."""
    certificate = current(settings)
    status = {
        "state": state,
        "at": now().isoformat(),
        "error": error,
        "serial": f"{certificate.serial_number:x}" if certificate else None,
        "next": next_at.isoformat() if next_at else None,
        "certificate": {
            "directory": settings["directory"],
            "names": sorted(settings["domains"]),
            "not_after": not_after(certificate).isoformat(),
        }
        if certificate
        else None,
    }
    write_atomically(STATUS, json.dumps(status).encode(), 0o644)


def attempt(settings: dict[str, Any]) -> x509.Certificate:
    """The certificate there, or a new one when none is, or it is due; raise Failure."""
    there = current(settings)
    if there is not None and now() < renew_at(there):
        return there
    why = "renewing" if there is not None else "getting"
    say(f"{why} a certificate for {', '.join(settings['domains'])} from {settings['directory']}")
    try:
        certificate = obtain(settings)
    except Failure:
        raise
    except Exception as error:  # the library's many errors, each said in one line
        raise Failure(explain(error, settings)) from error
    until = not_after(certificate)
    say(f"installed certificate {certificate.serial_number:x}, valid until {until:%Y-%m-%d %H:%M}Z")
    return certificate


def run(settings: dict[str, Any], forever: bool) -> int:
    retry = RETRY_FIRST
    while True:
        try:
            certificate = attempt(settings)
        except Failure as failure:
            next_at = now() + dt.timedelta(seconds=retry)
            write_status("failed", settings, str(failure), next_at if forever else None)
            say(f"failed: {failure}")
            if not forever:
                return 1
            time.sleep(retry)
            retry = min(retry * 2, RETRY_MOST)
            continue
        retry = RETRY_FIRST
        due = renew_at(certificate)
        write_status("valid", settings, None, due)
        if not forever:
            return 0
        wait = (due - now()).total_seconds()
        time.sleep(min(max(wait, 1.0), CHECK_EVERY))


def main(arguments: list[str]) -> int:
    if len(arguments) != 2 or arguments[0] not in {"once", "run"}:
        print(__doc__, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 has no default handler
    CHALLENGES.mkdir(parents=True, exist_ok=True)
    ALPN.mkdir(parents=True, exist_ok=True)
    LIVE.parent.mkdir(parents=True, exist_ok=True)
    return run(json.loads(arguments[1]), forever=arguments[0] == "run")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
