"""A link-heavy site — thousands of posts linking each other with `{% link %}` — under
Debian's Jekyll 4.3.1 as it is and with the upstream fix sitedeploy loads into it
(jekyll/jekyll#9187, docker/jekyll/sitedeploy-fixes.rb), in the same builder image, in the
same run: the time of each, and whether they write the same pages.

Upstream Jekyll (4.3.2 and later) needs a gem source that answers (RubyGems); where none
does, as on our machines, its column says so instead of a number."""

from __future__ import annotations

import shutil
from typing import Any

from bench.common import WORK, BenchState, Unmeasurable, median, ratio
from bench.gen_site import generate
from deployer.image.dockerfile import FIXES_IN_BUILDER
from deployer.site import open_site

LINKS_PER_POST = 5
# `jekyll build` alone in the builder image, timed inside it; then a digest of every page.
_SCRIPT = (
    "cp -r /src /w && cd /w && rm -rf .jekyll-cache _site && s=$(date +%s%N) && "
    "JEKYLL_ENV=production jekyll build -q -d /tmp/out >/dev/null && "
    "e=$(date +%s%N) && echo $(( (e - s) / 1000000 )) && cd /tmp/out && "
    "find . -name '*.html' -type f | sort | xargs sha256sum | sha256sum | cut -c1-16"
)


class LinkMeasures(BenchState):
    def link_heavy(self) -> dict[str, Any]:
        posts = 60 if self.quick else 1000
        folder = generate(WORK / f"link-heavy-{posts}", posts, link_tags=LINKS_PER_POST)
        try:
            self.sitedeploy("build", str(folder))  # its builder image has the fix file
            builder = next(iter(self.client.images.list(name=open_site(folder).builder_repository)))
            seconds: dict[str, list[float]] = {"as_is": [], "fixed": []}
            pages: dict[str, set[str]] = {"as_is": set(), "fixed": set()}
            for _ in range(self.runs):
                for way, env in (("as_is", {}), ("fixed", {"RUBYOPT": f"-r{FIXES_IN_BUILDER}"})):
                    output = self.client.containers.run(
                        builder, ["sh", "-c", _SCRIPT], environment=env, remove=True,
                        volumes={str(folder): {"bind": "/src", "mode": "ro"}},
                        network_disabled=True,
                    )  # fmt: skip
                    millis, digest = output.decode().split()[-2:]
                    seconds[way].append(int(millis) / 1000)
                    pages[way].add(digest)
        finally:
            self.forget_site_images(folder)
            shutil.rmtree(folder, ignore_errors=True)
        if len(pages["as_is"] | pages["fixed"]) != 1:
            raise Unmeasurable(f"the fix changed the pages Jekyll wrote: {pages}")
        as_is, fixed = median(seconds["as_is"]), median(seconds["fixed"])
        return {
            "posts": posts,
            "links_per_post": LINKS_PER_POST,
            "seconds": {"debian_as_is": as_is, "debian_fixed": fixed, "upstream": None},
            "upstream": "not measured: upstream Jekyll needs a gem source that answers",
            "fixed_vs_as_is": ratio(fixed, as_is),
            "same_pages": True,
        }
