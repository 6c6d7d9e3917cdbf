"""Watch mode: from saving a post to its new text on the port, and in a browser.

Side by side in one run: `sitedeploy up --watch` with the hot loop and without it
(`--no-hot`: a full `up` per save), and the anchor — Jekyll's own `jekyll build --watch`
in a container of the same builder image, its cache warm (the time until the rebuilt
post is on disk; it serves nothing). The baseline's rebuild-and-restart is the
edit-to-served row of builds.py. The hot loop serves the edited post first and then the
whole site regenerated: both times are reported, the second as `up --watch` prints it.
The browser row is the time until a page open in headless Chromium shows the new text by
itself (the watch preview's live reload).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    LABEL,
    SITEDEPLOY,
    WORK,
    BenchState,
    Unmeasurable,
    median,
    ratio,
)

WAIT_SECONDS = 180
_WHOLE = re.compile(r"Whole site regenerated and served (\d+(?:\.\d+)?) s after the save")


class _Watching:
    """`sitedeploy up --watch` as a user runs it, until stopped."""

    def __init__(self, folder: Path, port: int, hot: bool) -> None:
        flags = [] if hot else ["--no-hot"]
        self.process = subprocess.Popen(
            [SITEDEPLOY, "up", str(folder), "--port", str(port), "--watch", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output: list[str] = []
        self.watching = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.watching.wait(WAIT_SECONDS):
            self.stop()
            raise Unmeasurable("up --watch never started watching:\n" + "".join(self.output))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if "Watching" in line:
                self.watching.set()

    def whole_site(self) -> list[float]:
        """Each save's "Whole site regenerated and served N s after the save", so far."""
        return [float(m.group(1)) for line in self.output if (m := _WHOLE.search(line))]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()


class WatchMeasures(BenchState):
    def _until(self, seen: Any, what: str) -> float:
        started = time.monotonic()
        while time.monotonic() - started < WAIT_SECONDS:
            if seen():
                return time.monotonic() - started
            time.sleep(0.02)
        raise Unmeasurable(f"{what} never showed the edit")

    def _served(self, url: str, marker: str) -> bool:
        try:
            return marker.encode() in self.http.request("GET", url, timeout=5).data
        except Exception:
            return False

    def watch_edit_to_served(self, folder: Path, post: str, port: int) -> dict[str, Any]:
        """Seconds from a save to the new text on the port, in each mode, and in a browser
        for the hot loop; beside the anchor. The preview stays on `port`, as `up` left it."""
        hot, browser, whole = self._watch_mode(folder, post, port, hot=True)
        full, _, _ = self._watch_mode(folder, post, port, hot=False)
        self.sitedeploy("up", str(folder), "--port", str(port))  # no live reload any more
        anchor = self.jekyll_watch(folder, post)
        return {
            "seconds": {
                "sitedeploy_hot": median(hot),
                "sitedeploy_hot_whole_site": median(whole),
                "sitedeploy_full": median(full),
                "browser_hot": median(browser),
                "jekyll_watch": anchor,
            },
            "hot_over_jekyll_seconds": round(median(hot) - anchor, 3),
            "hot_vs_full": ratio(median(hot), median(full)),
        }

    def _watch_mode(
        self, folder: Path, post: str, port: int, *, hot: bool
    ) -> tuple[list[float], list[float], list[float]]:
        """One `up --watch` (a warm-up save first: the hot loop warms Jekyll once): its
        edit-to-served times, and (hot) the browser's and the whole site's (the hot loop
        serves the edited post first, then the whole site regenerated; each save starts
        once the previous one has settled)."""
        url = f"http://127.0.0.1:{port}{post}"
        mode = "hot" if hot else "full"
        watching = _Watching(folder, port, hot=hot)
        served, shown = [], []
        try:
            self._until(lambda: self._served(url, ""), f"up --watch ({mode})")
            for run in range(self.runs + 1):  # the first is the warm-up
                settled = len(watching.whole_site())
                marker = self.edit(folder)
                seconds = self._until(lambda m=marker: self._served(url, m), f"up --watch {mode}")
                if run:
                    served.append(seconds)
                if hot:
                    self._until(lambda n=settled: len(watching.whole_site()) > n, "the whole site")
                time.sleep(1)  # let the previous switch retire its container
            if hot:
                shown = self._in_browser(folder, url, watching)
        finally:
            watching.stop()
        return served, shown, watching.whole_site()[1 : self.runs + 1]

    def _in_browser(self, folder: Path, url: str, watching: _Watching) -> list[float]:
        """Seconds from a save until a page open in Chromium shows it by itself."""
        from playwright.sync_api import sync_playwright

        from deployer.check.browser import CHROMIUM_FLAGS, find_chromium

        found = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=find_chromium(), args=CHROMIUM_FLAGS
            )
            try:
                page = browser.new_page()
                page.goto(url, wait_until="load")
                for _ in range(self.runs):
                    settled = len(watching.whole_site())
                    marker = self.edit(folder)

                    def shown(m: str = marker) -> bool:
                        try:
                            return m in page.content()
                        except Exception:
                            return False

                    found.append(self._until(shown, "the browser"))
                    self._until(lambda n=settled: len(watching.whole_site()) > n, "the whole site")
                    time.sleep(1)
            finally:
                browser.close()
        return found

    def jekyll_watch(self, folder: Path, post: str) -> float:
        """The anchor: `jekyll build --watch` in a container of the site's builder image,
        the site's folder mounted in; seconds from a save to the post rebuilt on disk."""
        built = self.sitedeploy("build", str(folder))
        configs = re.search(r"--config (\S+)", built["dockerfile"])
        if not configs:
            raise Unmeasurable("no --config in the site's Dockerfile")
        out = WORK / "jekyll-watch-out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        container = self.client.containers.run(
            built["builder_image"],
            ["jekyll", "build", "--watch", "--destination", "/out",
             "--config", configs.group(1).strip("'")],
            detach=True,
            labels={LABEL: "jekyll-watch"},
            working_dir="/site/src",
            volumes={
                str(folder): {"bind": "/site/src", "mode": "rw"},
                str(out): {"bind": "/out", "mode": "rw"},
            },
            network_disabled=True,
        )  # fmt: skip
        target = out / post.lstrip("/")
        try:
            # Jekyll watches only once its first build is written: an edit before is lost.
            self._until(
                lambda: b"Auto-regeneration: enabled" in container.logs(), "jekyll build --watch"
            )
            warm = self.edit(folder)
            self._until(lambda: warm in target.read_text(errors="replace"), "jekyll warm-up")
            times = []
            for _ in range(self.runs):
                marker = self.edit(folder)
                times.append(
                    self._until(
                        lambda m=marker: m in target.read_text(errors="replace"),
                        "jekyll build --watch",
                    )
                )
                time.sleep(1)
        finally:
            container.remove(force=True)
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(folder / ".jekyll-cache", ignore_errors=True)
        return median(times)
