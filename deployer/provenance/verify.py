"""`inspect --verify`'s verdict: a rebuild with the same inputs against the image, file by file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployer.built_site import BuiltSite


@dataclass
class Verification:
    image: str
    content_hash: str
    rebuilt_content_hash: str
    site_sha256: str
    rebuilt_site_sha256: str
    differences: list[str] = field(default_factory=list)
    # Each platform's runtime, rebuilt from nothing cached: platform, runtime tag, differences.
    runtimes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def same_inputs(self) -> bool:
        return self.content_hash == self.rebuilt_content_hash

    @property
    def reproduced(self) -> bool:
        runtimes_same = not any(runtime["differences"] for runtime in self.runtimes)
        return self.same_inputs and self.site_sha256 == self.rebuilt_site_sha256 and runtimes_same

    def as_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "same_inputs": self.same_inputs,
            "reproduced": self.reproduced,
            "content_hash": self.content_hash,
            "rebuilt_content_hash": self.rebuilt_content_hash,
            "site_sha256": self.site_sha256,
            "rebuilt_site_sha256": self.rebuilt_site_sha256,
            "differences": self.differences,
            "runtimes": self.runtimes,
        }


def differences(before: BuiltSite, after: BuiltSite) -> list[str]:
    old = {f.path: f.sha256 for f in before.files}
    new = {f.path: f.sha256 for f in after.files}
    changed = [f"changed: {p}" for p in sorted(old.keys() & new.keys()) if old[p] != new[p]]
    return [
        *changed,
        *(f"added: {p}" for p in sorted(new.keys() - old.keys())),
        *(f"removed: {p}" for p in sorted(old.keys() - new.keys())),
    ]
