"""Serving and checking: wrk through the port, bytes on the wire, link checkers side by side."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import (
    LABEL,
    ROOT,
    SITEDEPLOY,
    WORK,
    BenchState,
    Unmeasurable,
    free_port,
    median,
    ratio,
    run,
)
from deployer.site import cache_dir, open_site


class ServeMeasures(BenchState):
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
        # Through the preview's port (the front, keep-alive) against the site container.
        front, server_measures = result["sitedeploy_front"], result["sitedeploy_server"]
        result["front_vs_server"] = {
            kind: {
                "rps_ratio": ratio(
                    front[kind]["requests_per_second"],
                    server_measures[kind]["requests_per_second"],
                ),
                "p99_ratio": ratio(front[kind]["p99_ms"], server_measures[kind]["p99_ms"]),
            }
            for kind in ("page", "css")
        }
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
