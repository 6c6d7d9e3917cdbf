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
HEALTH_PATH = "/.sitedeploy/health"
HEALTHCHECK = ("/usr/local/bin/healthcheck", str(CONTAINER_PORT), HEALTH_PATH)
USER_ID = 101  # nginx's user in the runtime image
TMP_PATH = "/tmp"
TMP_BYTES = 64 * 1024 * 1024
CAP_DROP = ("ALL",)
PIDS_LIMIT = 256


def container_options() -> dict[str, Any]:
    """docker-py's `containers.create` options: read-only root, a small tmpfs for nginx's
    pid and temporary files, no capabilities, no privilege gain, a process cap, and a
    restart by the daemon unless a user stops it. Each is visible in `docker inspect`."""
    return {
        "read_only": True,
        "tmpfs": {TMP_PATH: f"rw,noexec,nosuid,nodev,size={TMP_BYTES // 2**20}m,mode=1777"},
        "cap_drop": list(CAP_DROP),
        "security_opt": ["no-new-privileges:true"],
        "pids_limit": PIDS_LIMIT,
        "restart_policy": {"Name": "unless-stopped"},
    }
