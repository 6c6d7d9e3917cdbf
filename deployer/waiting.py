"""Waiting for something to happen: the one poll loop every wait with a deadline uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from deployer.errors import SitedeployError, TimedOut

_T = TypeVar("_T")


def poll(seconds: float, probe: Callable[[], _T | None], *, every: float = 0.1) -> _T | None:
    """Ask `probe` until it answers (anything but None or False), at most for `seconds`;
    return its answer, or None when the time ran out. `probe` is asked at least once, and
    once more at the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        answer = probe()
        if answer is not None and answer is not False:
            return answer
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(every, left))


def wait_until(
    seconds: float,
    probe: Callable[[], _T | None],
    what: str,
    *,
    every: float = 0.1,
    hint: str | Callable[[], str] = "",
    error: type[SitedeployError] = TimedOut,
) -> _T:
    """`poll`, and at the deadline raise `error`: "Gave up waiting for WHAT after N s",
    then `hint` (what to look at; a callable is asked only then, e.g. for the last error)."""
    answer = poll(seconds, probe, every=every)
    if answer is None:
        advice = hint() if callable(hint) else hint
        raise error(f"Gave up waiting for {what} after {seconds:g} s. {advice}".rstrip())
    return answer
