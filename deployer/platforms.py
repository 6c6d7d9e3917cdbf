"""The CPUs an image is made for: `linux/amd64` and `linux/arm64`.

The site's files do not depend on the CPU and the runtime is FROM scratch, so an image
for another CPU is the same site layers on that CPU's runtime; the runtime is assembled
from Debian's packages for that CPU without running any of its code
(docker/runtime/cross-build.in). Each platform knows the names Debian and the GNU
toolchain give it.
"""

from __future__ import annotations

from dataclasses import dataclass

from deployer.errors import ConfigError


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str  # the OCI name (GOARCH): amd64, arm64
    variant: str | None
    debian_arch: str
    triplet: str  # the GNU name of the system: the cross toolchain's prefix
    musl_triplet: str  # where Debian's musl-dev for it keeps its files

    @property
    def name(self) -> str:
        return f"{self.os}/{self.architecture}"

    def as_oci(self) -> dict[str, str]:
        """The `platform` of an OCI index entry (and an image config's fields)."""
        fields = {"architecture": self.architecture, "os": self.os}
        return {**fields, "variant": self.variant} if self.variant else fields


AMD64 = Platform("linux", "amd64", None, "amd64", "x86_64-linux-gnu", "x86_64-linux-musl")
ARM64 = Platform("linux", "arm64", "v8", "arm64", "aarch64-linux-gnu", "aarch64-linux-musl")
KNOWN = {p.name: p for p in (AMD64, ARM64)}
# What an engine reports as its CPU (`docker version`'s Arch, or uname's machine).
_ENGINE_ARCH = {"amd64": AMD64, "x86_64": AMD64, "arm64": ARM64, "aarch64": ARM64}


def known(name: str) -> Platform | None:
    """The platform `name` names (`linux/arm64/v8` is `linux/arm64`), or None."""
    return KNOWN.get(name.removesuffix("/v8") if name.startswith("linux/arm64") else name)


def platform(name: str, where: str = "--platform") -> Platform:
    """`linux/amd64`, `linux/arm64` (a `/v8` variant is accepted), or one error."""
    found = known(name)
    if found is None:
        raise ConfigError(
            f"{where}: {name!r} is not a platform sitedeploy builds; use one or more of "
            f"{', '.join(KNOWN)}."
        )
    return found


def engine_platform(arch: str) -> Platform:
    """The platform of an engine that reports CPU `arch`; one error for any other CPU."""
    found = _ENGINE_ARCH.get(arch)
    if found is None:
        raise ConfigError(
            f"The Docker engine runs on {arch!r}; sitedeploy builds for "
            f"{', '.join(KNOWN)} only. Use an engine on one of those CPUs (DOCKER_HOST)."
        )
    return found


def platforms(names: tuple[str, ...], native: Platform, where: str) -> list[Platform]:
    """The platforms to publish, the engine's own first (its image is built and pushed by
    the engine; the others are composed from it). Empty `names`: every known platform."""
    chosen = [platform(n, where) for n in names] if names else list(KNOWN.values())
    unique = list(dict.fromkeys(chosen))
    return sorted(unique, key=lambda p: p != native)
