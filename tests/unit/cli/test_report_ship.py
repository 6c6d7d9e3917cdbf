from __future__ import annotations

from datetime import UTC, datetime

from deployer.cli.report_ship import _since

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def test_since_says_when_and_how_long_ago() -> None:
    assert _since("2026-12-06T11:59:50.689790322Z", NOW) == "2026-12-06 11:59:50 UTC (10 s ago)"
    assert _since("2026-12-06T11:45:00Z", NOW) == "2026-12-06 11:45 UTC (15 min ago)"
    assert _since("2026-12-04T12:00:00Z", NOW) == "2026-12-04 12:00 UTC (2 d ago)"


def test_since_of_nothing_or_an_unknown_shape() -> None:
    assert _since(None, NOW) == "-"
    assert _since("yesterday", NOW) == "yesterday"
