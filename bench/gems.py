"""The same site built both ways: with Debian's packages, and with Bundler from a real gem
source on loopback (tests/gemsource.py), its gems resolving against Debian's packages the
way an air-gapped mirror setup does. Cold (no build cache, bases kept) and warm (one post
edited), so the two ways' costs sit side by side."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import WORK, BenchState, median, ratio, timed
from tests.gemsource import start_gem_source

GEMFILE = """source "{url}"
gem "jekyll", "~> 4.3"
gem "minima", "~> 2.5"
group :jekyll_plugins do
  gem "jekyll-feed"
  gem "jekyll-seo-tag"
end
"""
WAYS = ("debian", "bundler")


class GemMeasures(BenchState):
    def gem_ways(self, folder: Path) -> dict[str, Any]:
        source = start_gem_source(WORK / f"gems-{folder.name}")
        copies = {way: WORK / f"{folder.name}-{way}" for way in WAYS}
        try:
            for way, copy in copies.items():
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(folder, copy)
                (copy / "Gemfile").write_text(GEMFILE.format(url=source.url))
                (copy / "sitedeploy.toml").write_text(f'[build]\ngems = "{way}"\n')
            cold: dict[str, list[float]] = {way: [] for way in WAYS}
            warm: dict[str, list[float]] = {way: [] for way in WAYS}
            for _ in range(self.runs):
                for way, copy in copies.items():
                    self.forget_site_images(copy)
                    cold[way].append(timed(partial(self.sitedeploy, "build", str(copy))))
                    self.edit(copy)
                    warm[way].append(timed(partial(self.sitedeploy, "build", str(copy))))
        finally:
            source.stop()
            for copy in copies.values():
                self.forget_site_images(copy)
                shutil.rmtree(copy, ignore_errors=True)
        return {
            "cold_seconds": {way: median(cold[way]) for way in WAYS},
            "warm_seconds": {way: median(warm[way]) for way in WAYS},
            "warm_ratio_bundler_vs_debian": ratio(median(warm["bundler"]), median(warm["debian"])),
        }
