"""How every container of a site image runs, wherever it runs — declared once.

The runtime image (docker/runtime) listens on CONTAINER_PORT as USER_ID, answers
HEALTH_PATH, and needs nothing writable but /tmp. The preview (docker-py), the swarm
service and the Kubernetes Deployment all take these values from here, each in its own
engine's words.
"""

from __future__ import annotations

from typing import Any

CONTAINER_PORT = 8080
PORT_KEY = f"{CONTAINER_PORT}/tcp"  # how the engine names the container's port
HTTPS_CONTAINER_PORT = 8443  # a live front's HTTPS, when published (not on the host network)
HTTPS_PORT_KEY = f"{HTTPS_CONTAINER_PORT}/tcp"
HEALTH_PATH = "/.sitedeploy/health"
HEALTHCHECK = ("/usr/local/bin/healthcheck", str(CONTAINER_PORT), HEALTH_PATH)
USER_ID = 101  # nginx's user in the runtime image
TMP_PATH = "/tmp"
TMP_BYTES = 64 * 1024 * 1024
_TMP_FLAGS = "mode=1777,noexec,nosuid,nodev"
TMP_OPTIONS = f"size={TMP_BYTES // 2**20}m,{_TMP_FLAGS}"
# A preview's server runs the runtime's slot.conf (its nginx.conf and one listen more): its
# front reaches it on this socket, in the slot volume mounted at SOCKET_DIR in both. Not in
# /tmp: Podman 5 mounts a tmpfs of its own over a read-only container's /tmp, volume or not.
SOCKET_DIR = "/run/sitedeploy"
SOCKET_NAME = "sitedeploy.sock"  # its name in the slot volume (the front's link names it)
SOCKET_PATH = f"{SOCKET_DIR}/{SOCKET_NAME}"
SLOT_CONFIG = "/etc/nginx/slot.conf"  # built from nginx.conf's "# slot: " line
SLOT_BYTES = 2**20
SOCKET_HELPER = "/usr/local/bin/sitedeploy-sock"  # docker/runtime/sitedeploy-sock.c
NGINX = ("/usr/sbin/nginx", "-e", "stderr", "-g", "daemon off;")  # the image's ENTRYPOINT
CAP_DROP = ("ALL",)
PIDS_LIMIT = 256


def container_options() -> dict[str, Any]:
    """docker-py's `containers.create` options: read-only root, a small tmpfs for nginx's
    pid and temporary files, no capabilities, no privilege gain, a process cap, and a
    restart by the daemon unless a user stops it. Each is visible in `docker inspect`."""
    return {
        "read_only": True,
        "tmpfs": {TMP_PATH: f"rw,{TMP_OPTIONS}"},
        "cap_drop": list(CAP_DROP),
        "security_opt": ["no-new-privileges:true"],
        "pids_limit": PIDS_LIMIT,
        "restart_policy": {"Name": "unless-stopped"},
    }


def slot_volume_options(*, podman: bool = False) -> dict[str, str]:
    """The local volume driver's options for a socket slot: a tmpfs the server and the
    front both mount, for one socket (1 MiB at most, with /tmp's flags). Podman's driver
    reads `size=` as a disk quota and refuses it on a tmpfs: there the same limit is a
    count of 4 KiB pages (`nr_blocks`)."""
    size = f"nr_blocks={SLOT_BYTES // 4096}" if podman else f"size={SLOT_BYTES // 2**10}k"
    return {"type": "tmpfs", "device": "tmpfs", "o": f"{size},{_TMP_FLAGS}"}
