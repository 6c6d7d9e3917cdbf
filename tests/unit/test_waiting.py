"""The one poll loop: it returns the first answer, gives up at the deadline, and says why."""

from __future__ import annotations

import itertools

import pytest

from deployer.errors import PreviewFailed, TimedOut
from deployer.waiting import poll, wait_until


def test_poll_returns_the_first_answer() -> None:
    answers = iter([None, False, "ready", "later"])
    assert poll(5, lambda: next(answers), every=0) == "ready"


def test_poll_asks_again_at_the_deadline_and_then_gives_up() -> None:
    asked = itertools.count(1)
    assert poll(0.05, lambda: next(asked) and None, every=0.01) is None
    assert next(asked) >= 3  # once at once, between, and once at the deadline


def test_wait_until_raises_the_callers_error_with_the_hint_asked_then() -> None:
    last = {"error": "connection refused"}
    with pytest.raises(PreviewFailed) as raised:
        wait_until(
            0.02, lambda: None, "http://127.0.0.1:1 to answer", every=0.01,
            error=PreviewFailed, hint=lambda: f"The last error: {last['error']}.",
        )  # fmt: skip
    assert raised.value.message == (
        "Gave up waiting for http://127.0.0.1:1 to answer after 0.02 s. "
        "The last error: connection refused."
    )


def test_wait_until_by_default_raises_timed_out() -> None:
    with pytest.raises(TimedOut, match=r"^Gave up waiting for the moon after 0.01 s\.$"):
        wait_until(0.01, lambda: False, "the moon", every=0.01)
