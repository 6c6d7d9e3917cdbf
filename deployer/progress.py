"""What the user sees while sitedeploy works: steps, progress, warnings — on stderr.

Stdout is kept for `--json`. On a terminal a step shows a spinner with the latest line of
whatever the engine is doing; elsewhere (CI, pipes) it prints plain lines. Colour follows
rich's rules: only on a terminal, never with NO_COLOR.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.status import Status

# Lines a build prints to say how far it is (docker/jekyll/sitedeploy-progress.rb).
HEARTBEAT = "sitedeploy: "
HEARTBEAT_SECONDS = 5.0


class Progress:
    """The human side of every command."""

    def __init__(self, *, quiet: bool = False, verbose: bool = False) -> None:
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        if not self.console.is_terminal:
            self.console.width = 160  # logs and pipes: no terminal to wrap to
        self.quiet = quiet
        self.verbose = verbose
        self._status: Status | None = None
        self._title = ""
        self._last_heartbeat = 0.0

    @property
    def interactive(self) -> bool:
        return self.console.is_terminal and not self.quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(escape(message))

    def success(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"[green]✓[/green] {escape(message)}")

    def warning(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {escape(message)}")

    def error(self, message: str) -> None:
        """An error that does not end the command (watch mode goes on)."""
        self.console.print(f"[red]Error:[/red] {escape(message)}")

    def print(self, renderable: Any) -> None:
        """Print a rich renderable (a table) unless quiet."""
        if not self.quiet:
            self.console.print(renderable)

    def detail(self, line: str) -> None:
        """One line of an engine's output within the current step."""
        line = line.rstrip()
        if not line:
            return
        if self.verbose and not self.quiet:
            self.console.print(f"  [dim]{escape(line)}[/dim]")
        elif self._status is not None:
            self._status.update(f"{self._title} [dim]{escape(line[-100:])}[/dim]")
        elif line.startswith(HEARTBEAT) and not self.quiet:
            # Not a terminal (CI, a pipe): a long step still says it is alive, now and then.
            now = time.monotonic()
            if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
                self._last_heartbeat = now
                self.console.print(f"  {escape(line.removeprefix(HEARTBEAT))}")

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """A named stage of the work; prints its duration when it ends without error.

        Steps nest: an inner step (a base image bootstrap inside "Resolving base
        images") reuses the spinner of the outer one.
        """
        shown = escape(title)
        parent = self._title
        self._title = shown
        started = time.monotonic()
        try:
            if self._status is not None:
                self._status.update(shown)
                yield
            elif self.interactive and not self.verbose:
                with self.console.status(shown) as status:
                    self._status = status
                    try:
                        yield
                    finally:
                        self._status = None
            else:
                if not self.quiet:
                    self.console.print(f"{shown} …")
                yield
        finally:
            self._title = parent
            if self._status is not None:
                self._status.update(parent)
        if not self.quiet:
            elapsed = time.monotonic() - started
            self.console.print(f"[green]✓[/green] {shown} [dim]({elapsed:.1f} s)[/dim]")


@dataclass
class EventLog:
    """What an engine JSON stream (build, pull, push) said, once it has ended."""

    lines: list[str] = field(default_factory=list)
    aux: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def follow_events(
    events: Iterable[dict[str, Any]],
    progress: Progress,
    observe: Callable[[dict[str, Any]], bool] | None = None,
) -> EventLog:
    """Consume a decoded engine event stream (build, pull or push), showing it as it goes.

    Build streams carry `stream` text; pull and push streams carry per-layer `status`
    and `progress`. `aux` objects (the built image id, the pushed digest) are kept for the
    caller. An `errorDetail` ends the stream; the caller turns it into the right error.
    `observe` sees every other event first and may end the stream by returning False.
    """
    log = EventLog()
    for event in events:
        if "errorDetail" in event or "error" in event:
            detail = event.get("errorDetail") or {}
            log.error = str(detail.get("message") or event.get("error") or "unknown error")
            break
        if "aux" in event:
            log.aux.append(event["aux"])
        if observe is not None and not observe(event):
            break
        text = event.get("stream")
        if text is None and "status" in event:
            layer = f"{event['id']}: " if event.get("id") else ""
            text = f"{layer}{event['status']} {event.get('progress') or ''}"
        if text:
            for line in str(text).splitlines():
                log.lines.append(line)
                progress.detail(line)
    return log
