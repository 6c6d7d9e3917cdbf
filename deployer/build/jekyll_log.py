"""Read Jekyll's own output: its error message when a build fails, its warnings always.

Jekyll prints a one-line reason (`Liquid Exception: … in _posts/x.md`), a banner, then a
Ruby backtrace. Users need the reason, with paths as they know them (relative to their
site folder, not to the build container), and never the backtrace.
"""

from __future__ import annotations

import re

SOURCE_IN_CONTAINER = "/site/src/"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REASON = re.compile(r"^\s*((?:[A-Z][\w ]*)?(?:Exception|Error|error)):\s*(.+)$")
_RUBY_RAISE = re.compile(r"^/\S+\.rb:\d+:in `[^']*': (.+)$")
_WARNING = re.compile(r"^\s*((?:[A-Z][\w ]*)?(?:Warning|Deprecation)):\s*(.+)$")
_BACKTRACE = re.compile(r"^\s*from (/|<internal)")


def _clean(line: str) -> str:
    return _ANSI.sub("", line).replace(SOURCE_IN_CONTAINER, "").rstrip()


def jekyll_error(lines: list[str]) -> str:
    """Jekyll's reason for failing, from the output of the failed `jekyll build` step."""
    reasons: list[str] = []
    raised: str | None = None
    for raw in lines:
        line = _clean(raw)
        if _BACKTRACE.match(line):
            continue
        reason = _REASON.match(line)
        if reason and not _RUBY_RAISE.match(line):
            reasons.append(f"{reason.group(1).strip()}: {reason.group(2).strip()}")
            continue
        ruby = _RUBY_RAISE.match(line)
        # Ruby prints the outer exception first: Jekyll's own `exit` hides the cause.
        if ruby and raised is None and not ruby.group(1).startswith("exit (SystemExit)"):
            raised = ruby.group(1).strip()
    if reasons:
        return "\n".join(dict.fromkeys(reasons))
    if raised:
        return raised
    meaningful = [_clean(line) for line in lines if _clean(line) and not _BACKTRACE.match(line)]
    return "\n".join(meaningful[-10:]) or "jekyll build failed without a message"


def jekyll_warnings(lines: list[str]) -> list[str]:
    """Jekyll's warnings (`Build Warning:`, `Deprecation:` …), paths relative to the site."""
    warnings = []
    for raw in lines:
        match = _WARNING.match(_clean(raw))
        if match:
            warnings.append(f"{match.group(1).strip()}: {match.group(2).strip()}")
    return list(dict.fromkeys(warnings))
