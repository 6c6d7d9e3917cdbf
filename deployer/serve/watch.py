"""`sitedeploy up --watch`: redeploy on every save, with the same zero-downtime switch.

The folder is watched with watchdog (inotify on Linux). A burst of saves is debounced
into one redeploy; a save that breaks the build is reported and the last good version
keeps serving. Ctrl-C stops watching and leaves the preview running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from docker.utils.build import PatternMatcher
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from deployer.build.context import DEFAULT_IGNORES
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import SitedeployError
from deployer.progress import Progress
from deployer.serve.up import UpResult, up
from deployer.site import Site

DEBOUNCE_SECONDS = 0.3
# Editors' temporary files: saving through them fires events that change nothing.
_EDITOR_TEMPORARY = ("*.swp", "*.swx", "*~", ".#*", "#*#", "4913", "*.tmp")


class _Changes(FileSystemEventHandler):
    """Sets a flag when something that is part of the build changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.changed = threading.Event()
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


def watch(
    site: Site,
    deploy: Callable[[float], None],
    report: Callable[[SitedeployError], None],
    watching: Callable[[], None],
) -> None:
    """Until Ctrl-C, call `deploy(first_change_time)` after every settled burst of changes.

    The time is `time.monotonic()` of the burst's first change, so the caller can report
    how long a save took to be served. Errors of a deploy go to `report`; watching goes on.
    `watching` is called once the watcher runs (saves from then on are seen).
    """
    handler = _Changes(site.path)
    observer = Observer()
    observer.schedule(handler, str(site.path), recursive=True)
    observer.start()
    watching()
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
            try:
                deploy(first_change)
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
) -> None:
    """`up --watch`: deploy now, then after every settled burst of saves, until Ctrl-C
    (KeyboardInterrupt reaches the caller; the preview keeps running).

    `deployed(result, seconds)` gets each deploy and how long after the save it was
    served (None for the first); `failed` gets each error, and the last good version
    keeps serving.
    """

    def deploy(changed_at: float | None) -> None:
        result = up(engine, site, config, progress, strict=strict)
        deployed(result, time.monotonic() - changed_at if changed_at is not None else None)

    try:
        deploy(None)
    except SitedeployError as error:
        failed(error)
    watch(
        site,
        deploy,
        failed,
        lambda: progress.info(f"Watching {site.path} for changes; Ctrl-C stops watching."),
    )
