"""'Did you mean …?': the known name nearest to a misspelt one, for error messages."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable


def did_you_mean(word: object, known: Iterable[str], *, shown: Callable[[str], str] = str) -> str:
    """`" (did you mean X?)"` for the known name closest to `word`, or "" when none is
    close, or when `word` is itself known (its value is what is wrong, not its name)."""
    text = str(word)
    names = sorted(set(known))
    if text in names:
        return ""
    close = difflib.get_close_matches(text, names, n=1)
    return f" (did you mean {shown(close[0])}?)" if close else ""
