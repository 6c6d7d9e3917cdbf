"""sitedeploy against the plain-Docker baseline (bench/baseline/), side by side in one run.

For each site (the starter site, and a generated one with N posts, dead links and bad
fragments planted) it measures, as medians of --runs runs where timing is involved:

1. cold build (build cache pruned, site images removed, base images kept — for sitedeploy
   that includes its shared nginx runtime image) and warm rebuild
   after editing one post: sitedeploy vs `docker build` (classic) and `DOCKER_BUILDKIT=1`;
2. edit-to-served: from saving a post to its new text being served on the port, and how many
   requests failed meanwhile (a loop of requests runs during every redeploy);
3. final, builder and compressed (`docker save | gzip`) image sizes;
4. serving with wrk (requests/s, p99 latency) and the bytes of every HTML/CSS file with
   `Accept-Encoding: gzip`;
5. check time: `sitedeploy check` vs html-proofer (on `_site`) and linkchecker (over HTTP,
   its per-host throttle lifted), and what each found.

It never fails on a number; it fails only when something could not be measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import urllib3

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gen_site import generate  # noqa: E402
from deployer.site import cache_dir, open_site  # noqa: E402

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


class Bench:
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
        for repository in (site.repository, site.builder_repository):
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

    def edit_to_served(
        self, folder: Path, post: str, port: int, baseline_port: int
    ) -> dict[str, Any]:
        name = "sitedeploy-bench-baseline"
        image = "sitedeploy-bench/baseline:buildkit"

        def ours() -> None:
            self.sitedeploy("up", str(folder), "--port", str(port))

        def baseline() -> None:
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

    def wrk(self, url: str) -> dict[str, float]:
        output = run(
            "wrk",
            "-t2",
            "-c32",
            f"-d{self.wrk_seconds}s",
            "--latency",
            "-H",
            "Accept-Encoding: gzip",
            url,
        )
        rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
        p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
        if not rps or not p99:
            raise Unmeasurable(f"wrk gave no numbers for {url}:\n{output}")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
        return {
            "requests_per_second": float(rps.group(1)),
            "p99_ms": round(float(p99.group(1)) * scale, 3),
        }

    def text_bytes(self, base: str, built: Path, encoding: str = "gzip") -> dict[str, int]:
        """Bytes on the wire for every HTML and CSS file of the site, per kind."""
        totals = {"html": 0, "css": 0}
        for file in built.rglob("*"):
            if file.suffix in {".html", ".css"}:
                path = file.relative_to(built).as_posix()
                response = self.http.request(
                    "GET",
                    f"{base}/{path}",
                    headers={"Accept-Encoding": encoding},
                    decode_content=False,
                    preload_content=True,
                )
                totals[file.suffix[1:]] += len(response.data)
        return totals

    def serving(self, folder: Path, post: str, port: int, baseline_port: int) -> dict[str, Any]:
        server = self.client.containers.list(
            filters={
                "label": [
                    f"io.sitedeploy.site-id={open_site(folder).id}",
                    "io.sitedeploy.role=server",
                ]
            }
        )[0]
        server_port = server.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        built = cache_dir(open_site(folder)) / "_site"
        targets = {
            "sitedeploy_front": f"http://127.0.0.1:{port}",
            "sitedeploy_server": f"http://127.0.0.1:{server_port}",
            "baseline": f"http://127.0.0.1:{baseline_port}",
        }
        result: dict[str, Any] = {}
        for name, base in targets.items():
            result[name] = {
                "page": self.wrk(base + post),
                "css": self.wrk(base + "/assets/main.css"),
                "bytes_gzip": self.text_bytes(base, built),
                "bytes_plain": self.text_bytes(base, built, "identity"),
            }
        result["sitedeploy_server"]["bytes_br"] = self.text_bytes(
            targets["sitedeploy_server"], built, "br"
        )
        result["rps_ratio_server_vs_baseline"] = ratio(
            result["sitedeploy_server"]["page"]["requests_per_second"],
            result["baseline"]["page"]["requests_per_second"],
        )
        ours, theirs = result["sitedeploy_server"], result["baseline"]
        result["text_bytes_ratio"] = {
            kind: ratio(ours["bytes_gzip"][kind], theirs["bytes_gzip"][kind])
            for kind in ("html", "css")
        }
        return result

    def checks(self, folder: Path, port: int) -> dict[str, Any]:
        site = open_site(folder)
        built = cache_dir(site) / "_site"
        ours_times, found = [], 0
        for _ in range(self.runs):
            started = time.monotonic()
            result = subprocess.run(
                [SITEDEPLOY, "check", str(folder), "-q", "--json"],
                capture_output=True,
                text=True,
                check=False,
            )
            ours_times.append(time.monotonic() - started)
            if result.returncode not in {0, 1}:
                raise Unmeasurable(f"sitedeploy check failed:\n{result.stderr[-2000:]}")
            found = int(json.loads(result.stdout)["errors"])

        started = time.monotonic()
        proofer = subprocess.run(
            ["htmlproofer", str(built), "--disable-external", "--allow-hash-href"],
            capture_output=True,
            text=True,
            check=False,
        )
        proofer_seconds = time.monotonic() - started
        proofer_found = re.search(r"found (\d+) failures", proofer.stdout + proofer.stderr)

        linkchecker_seconds, linkchecker_found = self.linkchecker(site.repository + ":latest")
        fastest = min(proofer_seconds, linkchecker_seconds)
        return {
            "seconds": {
                "sitedeploy": median(ours_times),
                "html_proofer": round(proofer_seconds, 3),
                "linkchecker": round(linkchecker_seconds, 3),
            },
            "errors_found": {
                "sitedeploy": found,
                "html_proofer": int(proofer_found.group(1)) if proofer_found else 0,
                "linkchecker": linkchecker_found,
            },
            "speedup_vs_fastest": round(fastest / median(ours_times), 2),
        }

    def linkchecker(self, image: str) -> tuple[float, int]:
        """linkchecker over HTTP against the site's image, its per-host throttle lifted (the
        server sends a `LinkChecker` header, which linkchecker requires for >10 requests/s)."""
        config = WORK / "linkchecker"
        config.mkdir(exist_ok=True)
        headers = (ROOT / "docker/runtime/conf/security-headers.conf").read_text()
        (config / "security-headers.conf").write_text(
            headers + 'add_header LinkChecker "bench" always;\n'
        )
        (config / "linkcheckerrc").write_text("[checking]\nmaxrequestspersecond=1000\nthreads=16\n")
        for path in (config, *config.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        port = free_port()
        container = self.client.containers.run(
            image,
            detach=True,
            labels={LABEL: "linkchecker"},
            ports={"8080/tcp": ("127.0.0.1", port)},
            volumes={
                str(config / "security-headers.conf"): {
                    "bind": "/etc/nginx/security-headers.conf",
                    "mode": "ro",
                }
            },
        )
        try:
            time.sleep(1)
            started = time.monotonic()
            result = subprocess.run(
                [
                    "linkchecker",
                    "-f",
                    str(config / "linkcheckerrc"),
                    "--no-status",
                    "-o",
                    "text",
                    f"http://127.0.0.1:{port}/",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            seconds = time.monotonic() - started
        finally:
            container.remove(force=True)
        found = re.search(r"(\d+) errors? found", result.stdout)
        if not found:
            raise Unmeasurable(
                f"linkchecker gave no summary:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        return seconds, int(found.group(1))

    def cleanup(self, folders: list[Path]) -> None:
        for folder in folders:
            run(SITEDEPLOY, "down", str(folder), check=False)
        for container in self.client.containers.list(all=True, filters={"label": LABEL}):
            container.remove(force=True)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _row(
    site: str,
    measure: str,
    ours: object,
    classic: object = "",
    buildkit: object = "",
    ratio_text: object = "",
) -> str:
    cells = [site, measure, ours, classic, buildkit, "" if ratio_text is None else ratio_text]
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f}"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# sitedeploy vs plain Docker ({results['mode']}, medians of {results['runs']} runs)",
        "",
        "| site | measure | sitedeploy | baseline classic | baseline BuildKit | ours / BuildKit |",
        "|---|---|---|---|---|---|",
    ]
    for name, site in results["sites"].items():
        b, e, s = site["builds"], site["edit_to_served"], site["sizes"]
        cold, warm = b["cold_seconds"], b["warm_seconds"]
        served, failed = e["seconds"], e["failed_requests_while_redeploying"]
        lines += [
            _row(
                name,
                "cold build (s)",
                cold["sitedeploy"],
                cold["classic"],
                cold["buildkit"],
                b["cold_ratio_vs_buildkit"],
            ),
            _row(
                name,
                "warm rebuild, one post edited (s)",
                warm["sitedeploy"],
                warm["classic"],
                warm["buildkit"],
                b["warm_ratio_vs_buildkit"],
            ),
            _row(
                name,
                "edit-to-served (s)",
                served["sitedeploy"],
                "",
                served["baseline_buildkit"],
                ratio(served["sitedeploy"], served["baseline_buildkit"]),
            ),
            _row(
                name,
                "failed requests while redeploying",
                failed["sitedeploy"],
                "",
                failed["baseline_buildkit"],
            ),
            _row(name, "bare `jekyll build`, no cache (s)", site["bare_jekyll_seconds"]),
            _row(
                name,
                "final image (MB)",
                _mb(s["sitedeploy"]["final"]),
                "",
                _mb(s["baseline"]["final"]),
                s["final_ratio"],
            ),
            _row(
                name,
                "compressed image (MB)",
                _mb(s["sitedeploy"]["compressed"]),
                "",
                _mb(s["baseline"]["compressed"]),
                s["compressed_ratio"],
            ),
            _row(
                name,
                "builder image (MB)",
                _mb(s["sitedeploy"]["builder"]),
                "",
                _mb(s["baseline"]["builder"]),
            ),
        ]
        v = site["serving"]
        server, front, base = v["sitedeploy_server"], v["sitedeploy_front"], v["baseline"]
        for kind in ("page", "css"):
            lines += [
                _row(
                    name,
                    f"wrk {kind} req/s (server / front)",
                    f"{server[kind]['requests_per_second']:.0f} / "
                    f"{front[kind]['requests_per_second']:.0f}",
                    "",
                    f"{base[kind]['requests_per_second']:.0f}",
                    ratio(server[kind]["requests_per_second"], base[kind]["requests_per_second"]),
                ),
                _row(
                    name,
                    f"wrk {kind} p99 ms (server / front)",
                    f"{server[kind]['p99_ms']} / {front[kind]['p99_ms']}",
                    "",
                    base[kind]["p99_ms"],
                ),
            ]
        for kind in ("html", "css"):
            lines.append(
                _row(
                    name,
                    f"{kind.upper()} bytes: plain / gzip (ours: / br)",
                    f"{server['bytes_plain'][kind]} / {server['bytes_gzip'][kind]} / "
                    f"{server['bytes_br'][kind]}",
                    "",
                    f"{base['bytes_plain'][kind]} / {base['bytes_gzip'][kind]}",
                    v["text_bytes_ratio"][kind],
                )
            )
        c = site["checks"]
        lines += [
            _row(
                name,
                "check (s): ours, html-proofer, linkchecker",
                c["seconds"]["sitedeploy"],
                c["seconds"]["html_proofer"],
                c["seconds"]["linkchecker"],
                f"{c['speedup_vs_fastest']}x faster than the faster",
            ),
            _row(
                name,
                "errors found: ours, html-proofer, linkchecker",
                c["errors_found"]["sitedeploy"],
                c["errors_found"]["html_proofer"],
                c["errors_found"]["linkchecker"],
            ),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small site, one run: is everything measurable?"
    )
    parser.add_argument(
        "--posts", type=int, default=None, help="posts in the generated site [1000; quick: 40]"
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per timing [3; quick: 1]")
    args = parser.parse_args()
    bench = Bench(
        runs=args.runs or (1 if args.quick else 3),
        posts=args.posts or (40 if args.quick else 1000),
        wrk_seconds=2 if args.quick else 8,
        quick=args.quick,
    )
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "runs": bench.runs,
        "sites": {},
    }
    sites = bench.sites()
    try:
        for name, folder, post in sites:
            print(f"bench: {name}", file=sys.stderr)
            port, baseline_port = free_port(), free_port()
            site: dict[str, Any] = {"builds": bench.builds(folder)}
            site["bare_jekyll_seconds"] = bench.bare_jekyll(folder)
            site["edit_to_served"] = bench.edit_to_served(folder, post, port, baseline_port)
            site["sizes"] = bench.sizes(folder)
            site["serving"] = bench.serving(folder, post, port, baseline_port)
            site["checks"] = bench.checks(folder, port)
            results["sites"][name] = site
    except Unmeasurable as error:
        print(f"bench: could not measure: {error}", file=sys.stderr)
        sys.exit(1)
    finally:
        bench.cleanup([folder for _n, folder, _p in sites])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (RESULTS / "latest.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
