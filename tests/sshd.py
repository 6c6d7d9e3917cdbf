"""A real SSH server for tests: Debian's openssh-server on a free 127.0.0.1 port, its own
host key and config in a folder of the test's, root's login by a key the test makes. The
client side is a HOME of its own (`.ssh/config` naming the key, `known_hosts` naming the
server), so docker-py's SSH transport reaches this machine's Docker daemon as a rented
server's: DOCKER_HOST=ssh://root@127.0.0.1:PORT — and root's own ~/.ssh is never touched."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from deployer.waiting import wait_until
from tests.conftest import free_port

SSHD = "/usr/sbin/sshd"


def _keypair(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return Path(f"{path}.pub").read_text().strip()


@dataclass
class RunningSshd:
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    environment: dict[str, str] = field(default_factory=dict)  # for every session (SetEnv)
    forwarding: bool = True  # AllowTcpForwarding

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    def home(self, name: str, *, authorized: bool = True) -> Path:
        """A client HOME whose key the server takes (or, `authorized=False`, does not)."""
        home = self.root / name
        (home / ".ssh").mkdir(parents=True)
        key = _keypair(home / ".ssh" / "id_ed25519")
        if authorized:
            with (self.root / "authorized_keys").open("a") as handle:
                handle.write(key + "\n")
        host_key = " ".join((self.root / "host_key.pub").read_text().split()[:2])
        (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_key}\n")
        (home / ".ssh" / "config").write_text(
            f"Host 127.0.0.1\n  IdentityFile {home / '.ssh' / 'id_ed25519'}\n"
            f"  UserKnownHostsFile {home / '.ssh' / 'known_hosts'}\n"
        )
        return home

    def start(self) -> None:
        _keypair(self.root / "host_key")
        (self.root / "authorized_keys").touch()
        config = self.root / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.root / 'host_key'}\n"
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            f"PidFile {self.root / 'sshd.pid'}\n"
            f"AllowTcpForwarding {'yes' if self.forwarding else 'no'}\n"
            + "".join(f"SetEnv {name}={value}\n" for name, value in self.environment.items())
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
        log = (self.root / "sshd.log").open("ab")
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log, start_new_session=True
        )

        def listening() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(
            20, listening, f"sshd on 127.0.0.1:{self.port}", hint=f"See {self.root}/sshd.log."
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def start_sshd(
    root: Path, environment: dict[str, str] | None = None, *, forwarding: bool = True
) -> RunningSshd:
    root.mkdir(parents=True, exist_ok=True)
    running = RunningSshd(root, environment=environment or {}, forwarding=forwarding)
    running.start()
    return running
