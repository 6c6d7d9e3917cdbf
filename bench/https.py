"""HTTPS through the live front against plain HTTP through the preview's front: the same
nginx front, keep-alive, wrk side by side in one run (a certificate made here, given with
--cert/--key: the TLS cost, not ACME's)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench.common import SITEDEPLOY, WORK, free_port, ratio, run
from bench.serving import ServeMeasures

NAME = "bench.test"


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert, key_path = folder / "bench.crt", folder / "bench.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert, key_path


class HttpsMeasures(ServeMeasures):
    def https(self, folder: Path, post: str, port: int) -> dict[str, Any]:
        cert, key = _certificate(WORK / "https")
        http_port, https_port = free_port(), free_port()
        run(
            SITEDEPLOY, "deploy", str(folder), "-q", "--bind", "127.0.0.1",
            "--port", str(http_port), "--https-port", str(https_port),
            "--domain", NAME, "--cert", str(cert), "--key", str(key), "--hsts", "off",
        )  # fmt: skip
        try:
            https = self.wrk(f"https://127.0.0.1:{https_port}{post}")
            http = self.wrk(f"http://127.0.0.1:{port}{post}")
        finally:
            run(SITEDEPLOY, "remove", "--to", "host", str(folder), "-q", check=False)
        return {
            "https": https,
            "http": http,
            "rps_ratio": ratio(https["requests_per_second"], http["requests_per_second"]),
            "p99_ratio": ratio(https["p99_ms"], http["p99_ms"]),
        }
