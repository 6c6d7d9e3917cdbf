"""A real ACME CA for tests: Debian's `pebble` (the RFC 8555 test CA Let's Encrypt's
clients test against) on free 127.0.0.1 ports, with `pebble-challtestsrv` as its DNS
server, answering every name with 127.0.0.1; pebble's HTTP-01 validation connects to the
port the test's front listens on. Its listener's certificate is made here; the roots it
issues under come from its management API."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deployer.waiting import wait_until
from tests.conftest import free_port

BLOCKED = "blocked.test"  # pebble refuses to issue for it (its domain blocklist)


def self_signed(folder: Path, name: str, ip: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate and key for a listener on `ip` (pebble's own HTTPS)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(ip))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Pebble:
    root: Path
    http_port: int  # where pebble's HTTP-01 validation connects (the front's HTTP port)
    validity_seconds: int | None = None  # short-lived certificates, to see renewals
    eab_keys: dict[str, str] | None = None  # External Account Binding required: kid -> key
    tls_port: int = field(default_factory=free_port)  # where TLS-ALPN-01 validation connects
    port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    dns_port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @property
    def listener_ca(self) -> Path:
        """The CA of pebble's own HTTPS listener: what an ACME client must trust."""
        return self.root / "pebble.crt"

    def start(self) -> None:
        cert, key = self_signed(self.root, "pebble")
        config: dict[str, object] = {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": self.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(self.eab_keys),
            "externalAccountMACKeys": self.eab_keys or {},
            "domainBlocklist": [BLOCKED],
        }
        if self.validity_seconds:
            config["certificateValidityPeriod"] = self.validity_seconds
        (self.root / "pebble.json").write_text(json.dumps({"pebble": config}))
        log = (self.root / "pebble.log").open("ab")
        environment = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
        self.processes.append(
            subprocess.Popen(
                ["pebble-challtestsrv", "-dns01", f"127.0.0.1:{self.dns_port}",
                 "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-http01", "",
                 "-https01", "", "-tlsalpn01", "",
                 "-management", f"127.0.0.1:{free_port()}"],
                stdout=log, stderr=log, start_new_session=True,
            )
        )  # fmt: skip
        self.processes.append(
            subprocess.Popen(
                ["pebble", "-config", str(self.root / "pebble.json"),
                 "-dnsserver", f"127.0.0.1:{self.dns_port}"],
                stdout=log, stderr=log, start_new_session=True, env=environment,
            )
        )  # fmt: skip

        def answers() -> bool:
            try:
                requests.get(self.directory, timeout=1, verify=str(self.listener_ca))
            except requests.RequestException:
                return False
            return True

        wait_until(20, answers, f"pebble at {self.directory}", hint=f"See {self.root}/pebble.log.")

    def roots(self) -> Path:
        """pebble's root and intermediate (what a browser must trust), as one PEM file."""
        pem = b""
        for path in ("/roots/0", "/intermediates/0"):
            answer = requests.get(
                f"https://127.0.0.1:{self.management_port}{path}",
                timeout=5,
                verify=str(self.listener_ca),
            )
            answer.raise_for_status()
            pem += answer.content
        target = self.root / "pebble-roots.pem"
        target.write_bytes(pem)
        return target

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
