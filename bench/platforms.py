"""Publishing for one CPU against publishing one index for amd64 and arm64, side by side in
one run, each to its own repository of a registry on loopback (Debian's docker-registry).

Cold: the repositories are empty, the arm64 runtime is not built (its images, its gzipped
layer and the build cache are removed; the engine's own runtime stays, as every site
shares it). Warm: after one post's edit, built first (untimed), so both publishes push the
same new site layer. The site's image is built before any timed publish, so the two
differ only by what a second platform costs.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.common import DOCKER, BenchState, median, ratio, run, timed
from deployer.labels import Label, Role, runtime_companion
from deployer.site import user_cache
from tests.registry import start_registry

BOTH = ("linux/amd64", "linux/arm64")


class PlatformMeasures(BenchState):
    def platforms(self, folder: Path) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="bench-platforms-") as tmp:
            registry = start_registry(Path(tmp) / "registry")
            try:
                return self._platforms(folder, registry.host)
            finally:
                registry.close()

    def _forget_other_runtimes(self) -> None:
        """The arm64 runtime goes (images, cached layer, build cache): a cold second CPU."""
        label = f"{Label.PLATFORM}=linux/arm64"
        for image in self.client.images.list(filters={"label": label}):
            for tag in image.tags:
                for name in (
                    tag,
                    runtime_companion(tag, Role.RUNTIME_TOOLS),
                    runtime_companion(tag, Role.RUNTIME_BUILD),
                ):
                    run(DOCKER, "rmi", "-f", name, check=False)
        shutil.rmtree(user_cache() / "layers", ignore_errors=True)
        run(DOCKER, "builder", "prune", "-af")

    def _platforms(self, folder: Path, registry: str) -> dict[str, Any]:
        reports: dict[str, dict[str, Any]] = {}

        def publish(repository: str, *platforms: str) -> None:
            chosen = [f"--platform={name}" for name in platforms]
            reports[repository] = self.sitedeploy(
                "publish", str(folder), "--registry", registry, "--repository", repository,
                "--tag", f"run-{self.edits}", *chosen,
            )  # fmt: skip

        self.sitedeploy("build", str(folder))
        self._forget_other_runtimes()
        cold = {
            "one": timed(lambda: publish("bench/one", "linux/amd64")),
            "two": timed(lambda: publish("bench/two", *BOTH)),
        }
        warm: dict[str, list[float]] = {"one": [], "two": []}
        for _ in range(self.runs):
            self.edit(folder)
            self.sitedeploy("build", str(folder))
            warm["one"].append(timed(lambda: publish("bench/one", "linux/amd64")))
            warm["two"].append(timed(lambda: publish("bench/two", *BOTH)))
        two = reports["bench/two"]
        site = self.client.images.get(two["image_id"])
        native_runtime = self.client.images.get(site.labels[Label.RUNTIME])
        arm64_runtime = self.client.images.list(filters={"label": f"{Label.PLATFORM}=linux/arm64"})
        site_layers = int(site.attrs["Size"]) - int(native_runtime.attrs["Size"])
        return {
            "cold_seconds": {way: round(seconds, 2) for way, seconds in cold.items()},
            "warm_seconds": {way: round(median(times), 2) for way, times in warm.items()},
            "cold_ratio": ratio(cold["two"], cold["one"]),
            "warm_ratio": ratio(median(warm["two"]), median(warm["one"])),
            "pull_bytes": {p["platform"]: p["compressed_bytes"] for p in two["platforms"]},
            "unpacked_bytes": {
                "linux/amd64": int(site.attrs["Size"]),
                "linux/arm64": site_layers + int(arm64_runtime[0].attrs["Size"]),
            },
        }
