"""What every measurement shares: paths, running commands, medians, and the bench's state."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import urllib3

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gen_site import generate  # noqa: E402
from deployer.site import open_site  # noqa: E402

RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / "work"
SITEDEPLOY = str(ROOT / ".venv" / "bin" / "sitedeploy")
DOCKER = "/usr/bin/docker"  # Debian's CLI: the classic builder, and BuildKit with DOCKER_BUILDKIT=1
BASELINE = ROOT / "bench" / "baseline" / "Dockerfile"
LABEL = "io.sitedeploy.bench"


class Unmeasurable(RuntimeError):
    """A measurement could not be taken: the benchmark fails."""


def run(*command: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if check and result.returncode != 0:
        raise Unmeasurable(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}"
        )
    return result.stdout


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 3) if ours and theirs else None


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wrk_failures(output: str) -> dict[str, int]:
    """Requests, socket errors and non-2xx/3xx answers from a wrk report."""
    done = re.search(r"(\d+) requests in", output)
    if not done:
        raise Unmeasurable(f"wrk gave no numbers:\n{output}")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests": int(done.group(1)),
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def under_wrk(url: str, action: Callable[[], object]) -> dict[str, int]:
    """wrk (keep-alive, its default) on `url` for as long as `action` (a redeploy)
    takes, and a second either side: its requests, socket errors and non-2xx."""
    wrk = subprocess.Popen(
        ["wrk", "-t2", "-c8", "-d600s", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(1)
        action()
        time.sleep(1)
    finally:
        wrk.send_signal(signal.SIGINT)
        output, _ = wrk.communicate(timeout=60)
    return wrk_failures(output)


class BenchState:
    """The clients, settings and sites every group of measurements uses."""

    def __init__(self, runs: int, posts: int, wrk_seconds: int, quick: bool) -> None:
        self.runs = runs
        self.posts = posts
        self.wrk_seconds = wrk_seconds
        self.quick = quick
        self.client = docker.from_env(timeout=600)
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(5, 30))
        self.edits = 0

    # -- sites ----------------------------------------------------------------------

    def sites(self) -> list[tuple[str, Path, str]]:
        """(name, folder, URL path of the post we edit)."""
        shutil.rmtree(WORK, ignore_errors=True)
        WORK.mkdir(parents=True)
        starter = WORK / "starter"
        shutil.copytree(ROOT / "site-template", starter)
        generated = generate(
            WORK / f"generated-{self.posts}",
            self.posts,
            dead_links=min(20, self.posts // 4),
            bad_fragments=min(10, self.posts // 8),
        )
        return [
            ("starter", starter, "/news/2026/01/05/welcome-to-sitedeploy.html"),
            (f"generated-{self.posts}", generated, "/2020/01/01/post-00000.html"),
        ]

    def edit(self, folder: Path) -> str:
        """Change one post; return the marker the new version serves."""
        self.edits += 1
        marker = f"BENCH-EDIT-{self.edits}"
        post = sorted((folder / "_posts").iterdir())[0]
        text = re.sub(r"\nBENCH-EDIT-\d+\n", "\n", post.read_text())
        post.write_text(f"{text}\n{marker}\n")
        return marker

    # -- ours -----------------------------------------------------------------------

    def sitedeploy(self, *args: str) -> dict[str, Any]:
        return dict(json.loads(run(SITEDEPLOY, *args, "-q", "--json")))

    def forget_site_images(self, folder: Path) -> None:
        """Cold: the site's images and every build cache go; bases stay (the Debian base and
        sitedeploy's nginx runtime, which every site shares and which is built once)."""
        site = open_site(folder)
        for repository in site.repositories:
            for image in self.client.images.list(name=repository):
                for tag in image.tags:
                    self.client.images.remove(tag, force=True)
        run(DOCKER, "builder", "prune", "-af")

    # -- the baseline ----------------------------------------------------------------

    def base_image(self) -> str:
        for candidate in ("debian:bookworm-slim", "sitedeploy/debian:bookworm"):
            try:
                self.client.images.get(candidate)
                return candidate
            except docker.errors.ImageNotFound:
                continue
        raise Unmeasurable("no Debian base image (run sitedeploy build first)")

    def cleanup(self, folders: list[Path]) -> None:
        for folder in folders:
            run(SITEDEPLOY, "down", str(folder), check=False)
        for container in self.client.containers.list(all=True, filters={"label": LABEL}):
            container.remove(force=True)
