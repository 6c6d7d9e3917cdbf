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


_LOCK_MISMATCH = (
    "changed your gemfile",
    "the dependencies in your gemfile changed",
    "frozen",
    "deployment mode",
    "gemfile.lock is missing",
)
_NOT_FOUND = ("could not find", "can no longer be found", "could not find compatible versions")
_UNREACHABLE = (
    "could not fetch specs",
    "could not reach host",
    "network error",
    "connection refused",
)


def bundler_error(lines: list[str]) -> str:
    """Bundler's reason for failing `bundle install`, with the fix for the common ones."""
    said = [_clean(line) for line in lines if _clean(line) and not _BACKTRACE.match(_clean(line))]
    text = "\n".join(said[-12:])
    lowered = " ".join(said).lower()  # Bundler wraps its sentences
    if any(needle in lowered for needle in _LOCK_MISMATCH):
        return (
            f"{text}\nGemfile.lock does not match Gemfile. Update the lock where the gem source "
            "is reachable (`bundle lock`, or `bundle install`), and commit Gemfile and "
            "Gemfile.lock together."
        )
    if any(needle in lowered for needle in _NOT_FOUND):
        return (
            f"{text}\nGemfile.lock (or the Gemfile) asks for a gem or version that no gem "
            "source here has. Pick one the source has (`bundle update NAME`), or add it to "
            "the source ([build] gem_mirror)."
        )
    if any(needle in lowered for needle in _UNREACHABLE):
        return (
            f"{text}\nThe gem source did not answer the build. Check that it is reachable "
            'from containers, or build offline with [build] gems = "debian".'
        )
    return text or "bundle install failed without a message"
