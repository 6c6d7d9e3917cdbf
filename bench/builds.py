"""Builds and redeploys: cold and warm builds, bare Jekyll, edit-to-served, image sizes."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import urllib3

from bench.common import (
    BASELINE,
    DOCKER,
    LABEL,
    BenchState,
    Unmeasurable,
    median,
    ratio,
    run,
    timed,
    under_wrk,
)
from deployer.site import open_site


class BuildMeasures(BenchState):
    def baseline_build(
        self, folder: Path, buildkit: bool, tag: str, target: str | None = None
    ) -> None:
        args = [
            DOCKER,
            "build",
            "-q",
            "-f",
            str(BASELINE),
            "--build-arg",
            f"BASE={self.base_image()}",
            "--label",
            f"{LABEL}=baseline",
            "-t",
            tag,
        ]
        if target:
            args += ["--target", target]
        run(*args, str(folder), env={"DOCKER_BUILDKIT": "1" if buildkit else "0"})

    def forget_baseline(self) -> None:
        for image in self.client.images.list(filters={"label": f"{LABEL}=baseline"}):
            for tag in image.tags:
                self.client.images.remove(tag, force=True)
        self.client.images.prune(filters={"dangling": True})
        run(DOCKER, "builder", "prune", "-af")

    # -- measurements ------------------------------------------------------------------

    def builds(self, folder: Path) -> dict[str, Any]:
        cold: dict[str, list[float]] = {"sitedeploy": [], "classic": [], "buildkit": []}
        warm: dict[str, list[float]] = {"sitedeploy": [], "classic": [], "buildkit": []}
        builders: dict[str, Callable[[], object]] = {
            "sitedeploy": lambda: self.sitedeploy("build", str(folder)),
            "classic": lambda: self.baseline_build(
                folder, False, "sitedeploy-bench/baseline:classic"
            ),
            "buildkit": lambda: self.baseline_build(
                folder, True, "sitedeploy-bench/baseline:buildkit"
            ),
        }
        for _ in range(self.runs):
            for name, build in builders.items():
                self.forget_site_images(folder)
                self.forget_baseline()
                cold[name].append(timed(build))
                self.edit(folder)
                warm[name].append(timed(build))
        # Leave every image built and warm for what follows.
        for build in builders.values():
            build()
        return {
            "cold_seconds": {k: median(v) for k, v in cold.items()},
            "warm_seconds": {k: median(v) for k, v in warm.items()},
            "cold_ratio_vs_buildkit": ratio(median(cold["sitedeploy"]), median(cold["buildkit"])),
            "warm_ratio_vs_buildkit": ratio(median(warm["sitedeploy"]), median(warm["buildkit"])),
            "warm_ratio_vs_classic": ratio(median(warm["sitedeploy"]), median(warm["classic"])),
        }

    def bare_jekyll(self, folder: Path) -> float:
        """`jekyll build` alone, without its cache, in our builder image (ms inside)."""
        builder = open_site(folder).builder_repository
        image = next(iter(self.client.images.list(name=builder)), None)
        if image is None:
            raise Unmeasurable("no builder image to run bare jekyll in")
        script = (
            "cp -r /src /w && cd /w && rm -rf .jekyll-cache _site && s=$(date +%s%N) && "
            "JEKYLL_ENV=production jekyll build -q -d /tmp/out >/dev/null && "
            "e=$(date +%s%N) && echo $(( (e - s) / 1000000 ))"
        )
        values = []
        for _ in range(self.runs):
            output = self.client.containers.run(
                image,
                ["sh", "-c", script],
                remove=True,
                volumes={str(folder): {"bind": "/src", "mode": "ro"}},
                network_disabled=True,
            )
            values.append(int(output.decode().strip().splitlines()[-1]) / 1000)
        return median(values)

    def redeploy(self, url: str, marker: str, action: Callable[[], object]) -> tuple[float, int]:
        """Run `action` (a redeploy) while requesting `url` in a loop; return the seconds
        from the start until `marker` is served, and how many requests failed meanwhile."""
        failed, seen = [0], [0.0]
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                try:
                    response = self.http.request("GET", url, timeout=2)
                    if response.status != 200:
                        failed[0] += 1
                    elif marker.encode() in response.data and not seen[0]:
                        seen[0] = time.monotonic()
                except urllib3.exceptions.HTTPError:
                    failed[0] += 1
                time.sleep(0.01)

        poller = threading.Thread(target=poll)
        started = time.monotonic()
        poller.start()
        try:
            action()
            deadline = time.monotonic() + 60
            while not seen[0] and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            done.set()
            poller.join()
        if not seen[0]:
            raise Unmeasurable(f"{url} never served {marker}")
        return seen[0] - started, failed[0]

    def deploy_ours(self, folder: Path, port: int) -> None:
        self.sitedeploy("up", str(folder), "--port", str(port))

    def deploy_baseline(self, folder: Path, baseline_port: int) -> None:
        """The baseline's redeploy: rebuild, then replace its container (docker rm, run)."""
        name = "sitedeploy-bench-baseline"
        image = "sitedeploy-bench/baseline:buildkit"
        self.baseline_build(folder, True, image)
        run(DOCKER, "rm", "-f", name, check=False)
        run(
            DOCKER,
            "run",
            "-d",
            "--name",
            name,
            "--label",
            f"{LABEL}=baseline",
            "-p",
            f"127.0.0.1:{baseline_port}:80",
            image,
        )

    def edit_to_served(
        self, folder: Path, post: str, port: int, baseline_port: int
    ) -> dict[str, Any]:
        def ours() -> None:
            self.deploy_ours(folder, port)

        def baseline() -> None:
            self.deploy_baseline(folder, baseline_port)

        ours()
        baseline()
        seconds: dict[str, list[float]] = {"sitedeploy": [], "baseline_buildkit": []}
        failures = {"sitedeploy": 0, "baseline_buildkit": 0}
        for _ in range(self.runs):
            for key, action, where in (
                ("sitedeploy", ours, port),
                ("baseline_buildkit", baseline, baseline_port),
            ):
                marker = self.edit(folder)
                took, failed = self.redeploy(f"http://127.0.0.1:{where}{post}", marker, action)
                seconds[key].append(took)
                failures[key] += failed
        return {
            "seconds": {key: median(values) for key, values in seconds.items()},
            "failed_requests_while_redeploying": failures,
        }

    def redeploys_under_wrk(
        self, folder: Path, post: str, port: int, baseline_port: int
    ) -> dict[str, Any]:
        """One edited post redeployed while wrk (keep-alive) loads the port: ours, and the
        baseline's rebuild-and-restart."""
        self.edit(folder)
        ours = under_wrk(f"http://127.0.0.1:{port}{post}", lambda: self.deploy_ours(folder, port))
        self.edit(folder)
        theirs = under_wrk(
            f"http://127.0.0.1:{baseline_port}{post}",
            lambda: self.deploy_baseline(folder, baseline_port),
        )
        return {"sitedeploy": ours, "baseline_buildkit": theirs}

    def compressed_size(self, image: str) -> int:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        total = 0
        for chunk in self.client.api.get_image(image):
            total += len(compressor.compress(chunk))
        return total + len(compressor.flush())

    def sizes(self, folder: Path) -> dict[str, Any]:
        ours = self.sitedeploy("build", str(folder))
        self.baseline_build(folder, True, "sitedeploy-bench/baseline:builder", target="build-stage")
        baseline = self.client.images.get("sitedeploy-bench/baseline:buildkit")
        builder = self.client.images.get("sitedeploy-bench/baseline:builder")
        result: dict[str, Any] = {
            "sitedeploy": {
                "final": ours["image_size"],
                "builder": ours["builder_size"],
                "compressed": self.compressed_size(ours["image"]),
                "site_bytes": ours["site_bytes"],
            },
            "baseline": {
                "final": baseline.attrs["Size"],
                "builder": builder.attrs["Size"],
                "compressed": self.compressed_size("sitedeploy-bench/baseline:buildkit"),
            },
        }
        result["final_ratio"] = ratio(result["sitedeploy"]["final"], result["baseline"]["final"])
        result["compressed_ratio"] = ratio(
            result["sitedeploy"]["compressed"], result["baseline"]["compressed"]
        )
        return result
