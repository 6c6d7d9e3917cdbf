"""A real registry for tests: Debian's `docker-registry` (the reference distribution
registry) on a free 127.0.0.1 port, open, with htpasswd basic auth, or with TLS from a CA
made here (which the daemon is told to trust through /etc/docker/certs.d)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import requests

from deployer.waiting import wait_until
from tests.conftest import free_port

CERTS_DIR = Path("/etc/docker/certs.d")


@dataclass
class RunningRegistry:
    root: Path
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def ca(self) -> Path:
        return self.root / "ca.crt"

    def start(self) -> None:
        log = (self.root / "registry.log").open("ab")
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(self.root / "config.yml")],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

        def answers() -> bool:
            try:
                requests.get(
                    f"{self.url}/v2/", timeout=1, verify=str(self.ca) if self.tls else True
                )
            except requests.RequestException:
                return False
            return True

        wait_until(
            20, answers, f"docker-registry at {self.url}",
            hint=f"See {self.root}/registry.log.",
        )  # fmt: skip

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def get(self, path: str) -> requests.Response:
        auth = (self.username, self.password) if self.username and self.password else None
        return requests.get(
            f"{self.url}{path}", auth=auth, timeout=10, verify=str(self.ca) if self.tls else True
        )

    def close(self) -> None:
        self.stop()
        if self.tls:
            shutil.rmtree(CERTS_DIR / self.host, ignore_errors=True)


def _make_tls(root: Path, host: str) -> list[str]:
    """A CA, and a certificate for 127.0.0.1 signed by it; the daemon trusts the CA."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=root)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        "/CN=sitedeploy test CA", "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (root / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")  # fmt: skip
    trusted = CERTS_DIR / host
    trusted.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "ca.crt", trusted / "ca.crt")
    return [
        "  tls:",
        f"    certificate: {root / 'server.crt'}",
        f"    key: {root / 'server.key'}",
    ]


def start_registry(
    root: Path, *, login: tuple[str, str] | None = None, tls: bool = False, port: int = 0
) -> RunningRegistry:
    root.mkdir(parents=True, exist_ok=True)
    registry = RunningRegistry(root=root, port=port or free_port(), tls=tls)
    lines = [
        "version: 0.1",
        "log:",
        "  level: warn",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root / 'data'}",
        "http:",
        f"  addr: {registry.host}",
    ]
    if tls:
        lines += _make_tls(root, registry.host)
    if login:
        registry.username, registry.password = login
        hashed = bcrypt.hashpw(login[1].encode(), bcrypt.gensalt()).decode()
        (root / "htpasswd").write_text(f"{login[0]}:{hashed}\n")
        lines += [
            "auth:",
            "  htpasswd:",
            "    realm: sitedeploy-tests",
            f"    path: {root / 'htpasswd'}",
        ]
    (root / "config.yml").write_text("\n".join(lines) + "\n")
    registry.start()
    return registry
