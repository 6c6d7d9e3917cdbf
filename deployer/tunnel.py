"""A port on a remote engine's machine, reached from here through the SSH connection the
Docker client already holds to it — what `ssh -L` does, on paramiko's own channels.

sitedeploy checks a new server over HTTP before the front switches to it, and asks the
front which server answers; on a server rented elsewhere (`ssh://`), those ports are the
server's 127.0.0.1, so each is carried here to a local port of ours.
"""

from __future__ import annotations

import select
import socket
import socketserver
import threading
from typing import Any

_CHUNK = 65536


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        try:
            channel = self.server.transport.open_channel(
                "direct-tcpip", self.server.target, client.getpeername()
            )
        except Exception:  # the remote side refused: the client sees a closed connection
            return
        try:
            _pump(client, channel)
        finally:
            channel.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, transport: Any, target: tuple[str, int]) -> None:
        self.transport = transport
        self.target = target
        super().__init__(("127.0.0.1", 0), _Handler)


def _pump(client: socket.socket, channel: Any) -> None:
    """Copy bytes both ways until either side closes."""
    while True:
        ready, _, _ = select.select([client, channel], [], [], 60)
        if not ready:
            return
        for side, other in ((client, channel), (channel, client)):
            if side in ready:
                data = side.recv(_CHUNK)
                if not data:
                    return
                other.sendall(data)


_PROHIBITED = 1  # SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (RFC 4254, 5.1)


def forwarding_refused(transport: Any, target: tuple[str, int]) -> bool:
    """True when the server's sshd forbids forwarding to `target` (AllowTcpForwarding no,
    PermitOpen); a port nobody listens on yet is not a refusal."""
    try:
        transport.open_channel("direct-tcpip", target, ("127.0.0.1", 0), timeout=20).close()
    except Exception as error:  # paramiko's ChannelException: its code says why
        return getattr(error, "code", None) == _PROHIBITED
    return False


class Forward:
    """A local port that carries every connection to `target` on the remote machine."""

    def __init__(self, transport: Any, target: tuple[str, int]) -> None:
        self._server = _Server(transport, target)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
