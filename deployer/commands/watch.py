"""`sitedeploy up --watch`: redeploy on every save, with the same zero-downtime switch.

The folder is watched with watchdog (inotify on Linux). A burst of saves is debounced
into one redeploy; a save that breaks the build is reported and the last good version
keeps serving. Ctrl-C stops watching and leaves the preview running.

Saves take the hot loop (serve/hot_loop.py) when they can: Jekyll warm in a builder
container, each version a small layer over the serving image, checked where it changed
before each switch and in full after the last. The first deploy, a change the hot loop
cannot take, and every CLEAN_EVERY edit layers run a full `up`. Pages in the browser reload
when the new version is served (the front's live reload, only in watch mode).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from docker.utils.build import PatternMatcher
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from deployer.commands.up import up
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import SitedeployError
from deployer.image.context import DEFAULT_IGNORES
from deployer.progress import Progress
from deployer.serve.hot import NotHot
from deployer.serve.hot_loop import HotLoop
from deployer.serve.switch import UpResult
from deployer.site import Site

DEBOUNCE_SECONDS = 0.1
# Editors' temporary files: saving through them fires events that change nothing.
_EDITOR_TEMPORARY = ("*.swp", "*.swx", "*~", ".#*", "#*#", "4913", "*.tmp")


class _Changes(FileSystemEventHandler):
    """Sets a flag when something that is part of the build changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.changed = threading.Event()
        self.afresh = threading.Event()  # a clean build was asked for
        patterns = [*DEFAULT_IGNORES, *(f"**/{glob}" for glob in _EDITOR_TEMPORARY)]
        self._ignored = PatternMatcher([*patterns, *_EDITOR_TEMPORARY])

    def relevant(self, path: str) -> bool:
        try:
            relative = Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return False
        # types-docker says PathLike, but the matcher works on '/'-separated strings.
        ignored = self._ignored.matches(relative)  # type: ignore[arg-type]
        return relative not in {"", "."} and not ignored

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in {"opened", "closed_no_write"}:
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(self.relevant(str(p)) for p in paths if p):
            self.changed.set()


def _reads_lines() -> bool:
    """Can a line on standard input ask for a clean build? A pipe can; a terminal only
    when this process is in its foreground (a background job reading it would be stopped)."""
    try:
        if not sys.stdin.isatty():
            return True
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (AttributeError, ValueError, OSError):
        return False


def _read_lines(handler: _Changes) -> None:
    for _line in sys.stdin:
        handler.afresh.set()
        handler.changed.set()


def watch(
    site: Site,
    deploy: Callable[[float, bool], None],
    report: Callable[[SitedeployError], None],
    watching: Callable[[bool], None],
) -> None:
    """Until Ctrl-C, call `deploy(first_change_time, afresh)` after every settled burst of
    changes, or with `afresh` when a line (Enter) was read on standard input.

    The time is `time.monotonic()` of the burst's first change, so the caller can report
    how long a save took to be served. Errors of a deploy go to `report`; watching goes on.
    `watching(reads_lines)` is called once the watcher runs (saves from then on are seen).
    """
    handler = _Changes(site.path)
    observer = Observer()
    observer.schedule(handler, str(site.path), recursive=True)
    observer.start()
    reads_lines = _reads_lines()
    if reads_lines:
        threading.Thread(target=_read_lines, args=(handler,), daemon=True).start()
    watching(reads_lines)
    try:
        while True:
            if not handler.changed.wait(timeout=0.5):
                continue
            first_change = time.monotonic()
            # Debounce: wait for the burst of saves to settle.
            while True:
                handler.changed.clear()
                time.sleep(DEBOUNCE_SECONDS)
                if not handler.changed.is_set():
                    break
            afresh = handler.afresh.is_set()
            handler.afresh.clear()
            try:
                deploy(first_change, afresh)
            except SitedeployError as error:
                report(error)
    finally:
        observer.stop()
        observer.join()


def watch_and_deploy(
    engine: Engine,
    site: Site,
    config: SiteConfig,
    progress: Progress,
    *,
    strict: bool,
    deployed: Callable[[UpResult, float | None], None],
    failed: Callable[[SitedeployError], None],
    hot: bool = True,
) -> None:
    """`up --watch`: deploy now, then after every settled burst of saves, until Ctrl-C
    (KeyboardInterrupt reaches the caller; the preview keeps running).

    `deployed(result, seconds)` gets each deploy and how long after the save it was
    served (None for the first); `failed` gets each error, and the last good version
    keeps serving. With `hot`, saves take the hot loop when they can.
    """
    loop = HotLoop(engine, site, config, progress, strict) if hot else None

    def full() -> UpResult:
        result = up(engine, site, config, progress, strict=strict, live_reload=True)
        if loop is not None:
            loop.after_full(result)
        return result

    def deploy(changed_at: float | None, afresh: bool = False) -> None:
        result: UpResult | None
        if afresh:
            progress.info("Building afresh, as asked.")
        if loop is None or changed_at is None or afresh:
            result = full()
        else:
            try:
                result = loop.deploy(
                    changed_at, lambda first: deployed(first, time.monotonic() - changed_at)
                )
            except NotHot as reason:
                if loop.builder is not None:
                    progress.info(f"{reason}.")
                result = full()
        if result is not None:
            deployed(result, time.monotonic() - changed_at if changed_at is not None else None)

    try:
        deploy(None)
    except SitedeployError as error:
        failed(error)
    try:
        watch(
            site,
            deploy,
            failed,
            lambda lines: progress.info(
                f"Watching {site.path} for changes; "
                f"{'Enter builds afresh, ' if lines else ''}Ctrl-C stops watching."
            ),
        )
    finally:
        if loop is not None:
            loop.close()
