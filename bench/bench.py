"""sitedeploy against the plain-Docker baseline (bench/baseline/), side by side in one run.

For each site (the starter site, and a generated one with N posts, dead links and bad
fragments planted) it measures, as medians of --runs runs where timing is involved:

1. cold build (build cache pruned, site images removed, base images kept — for sitedeploy
   that includes its shared nginx runtime image) and warm rebuild
   after editing one post: sitedeploy vs `docker build` (classic) and `DOCKER_BUILDKIT=1`;
2. edit-to-served: from saving a post to its new text being served on the port, and how many
   requests failed meanwhile (a loop of requests runs during every redeploy); in watch
   mode too (hot loop, full builds, in a browser) beside `jekyll build --watch`;
3. final, builder and compressed (`docker save | gzip`) image sizes;
4. serving with wrk (requests/s, p99 latency; through the preview's port, on the site
   container and on the baseline's container) and the bytes of every HTML/CSS file with
   `Accept-Encoding: gzip`; a redeploy while wrk (keep-alive) loads the port: its socket
   errors and non-2xx answers, ours and the baseline's;
5. check time: `sitedeploy check` vs html-proofer (on `_site`) and linkchecker (over HTTP,
   its per-host throttle lifted), and what each found;
6. deploying to a server over SSH: streamed, through a registry, and by hand with
   `docker save | ssh … docker load` (bench/servers.py);
7. publishing for amd64 alone against one index for amd64 and arm64, cold and warm
   (bench/platforms.py), and each platform's image size;
8. a link-heavy generated site (`{% link %}` everywhere) under Debian's Jekyll as it is
   and with the upstream fix sitedeploy loads into it (bench/linkheavy.py).

It never fails on a number; it fails only when something could not be measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.builds import BuildMeasures  # noqa: E402
from bench.common import RESULTS, Unmeasurable, free_port  # noqa: E402
from bench.gems import GemMeasures  # noqa: E402
from bench.https import HttpsMeasures  # noqa: E402
from bench.linkheavy import LinkMeasures  # noqa: E402
from bench.platforms import PlatformMeasures  # noqa: E402
from bench.render import markdown  # noqa: E402
from bench.servers import ServerMeasures  # noqa: E402
from bench.watching import WatchMeasures  # noqa: E402


class Bench(
    ServerMeasures,
    BuildMeasures,
    HttpsMeasures,
    GemMeasures,
    WatchMeasures,
    LinkMeasures,
    PlatformMeasures,
):
    """Every measurement, on one set of sites."""


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
            site["watch"] = bench.watch_edit_to_served(folder, post, port)
            site["sizes"] = bench.sizes(folder)
            site["serving"] = bench.serving(folder, post, port, baseline_port)
            site["https"] = bench.https(folder, post, port)
            site["redeploy_under_wrk"] = bench.redeploys_under_wrk(
                folder, post, port, baseline_port
            )
            site["checks"] = bench.checks(folder, port)
            site["gem_ways"] = bench.gem_ways(folder)
            site["over_ssh"] = bench.over_ssh(folder, post)
            site["platforms"] = bench.platforms(folder)
            results["sites"][name] = site
        print("bench: a link-heavy site under Debian's Jekyll", file=sys.stderr)
        results["link_heavy"] = bench.link_heavy()
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
