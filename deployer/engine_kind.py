"""What an engine is: Docker Engine or Podman, its version, CPU, image store (classic or
containerd) and whether it builds with BuildKit — read once from its /version and /info
answers (`Engine.kind`), so every difference between engines is decided here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EngineKind:
    """What an engine is, as sitedeploy needs to know it: Docker Engine or Podman, the
    version, the CPU, the image store, and whether its builds can use BuildKit."""

    product: str  # "Docker Engine" or "Podman"
    version: str
    api_version: str
    arch: str  # as the engine says it (amd64, arm64, x86_64 …)
    containerd_store: bool  # Docker's containerd image store (image ids are manifest digests)
    storage: str  # the storage driver (overlay2) or snapshotter (overlayfs)
    buildkit: bool  # the engine serves BuildKit's sessions (Docker 18.09+, not Podman)
    data_root: str = "/var/lib/docker"  # where it keeps images (DockerRootDir)

    @property
    def podman(self) -> bool:
        return self.product == "Podman"

    @property
    def classic_store(self) -> bool:
        """Docker's classic image store: ids are config digests and sizes the bytes of an
        image's files (what sitedeploy reports on every engine: `image_facts`)."""
        return not self.podman and not self.containerd_store

    def line(self) -> str:
        """One line for `up -v`."""
        store = (
            "containers-storage"
            if self.podman
            else "containerd image store"
            if self.containerd_store
            else "classic image store"
        )
        builds = "BuildKit" if self.buildkit else "classic builds only"
        return (
            f"Engine: {self.product} {self.version} (API {self.api_version}), {self.arch}, "
            f"{store} ({self.storage}), {builds}"
        )


def engine_kind(version: dict[str, Any], info: dict[str, Any]) -> EngineKind:
    """An EngineKind from the engine's own answers to /version and /info."""
    components = [str(c.get("Name", "")) for c in version.get("Components") or []]
    podman = any("podman" in name.lower() for name in components)
    status = {str(k): str(v) for k, v in info.get("DriverStatus") or []}
    containerd = status.get("driver-type") == "io.containerd.snapshotter.v1"
    number = str(version.get("Version") or "")
    major = int(number.split(".")[0]) if number.split(".")[0].isdigit() else 0
    return EngineKind(
        product="Podman" if podman else "Docker Engine",
        version=number or "unknown",
        api_version=str(version.get("ApiVersion") or "unknown"),
        arch=str(version.get("Arch") or info.get("Architecture") or ""),
        containerd_store=containerd,
        storage=str(info.get("Driver") or "unknown"),
        buildkit=not podman and major >= 18,
        data_root=str(info.get("DockerRootDir") or "/var/lib/docker"),
    )
