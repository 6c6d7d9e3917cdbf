"""Parse a built page as a browser reads it from our server.

nginx serves every page with `charset=utf-8` (docker/runtime/conf/nginx.conf), and a
browser follows that header before any `<meta charset>`, so pages are parsed as UTF-8 —
without it libxml2 falls back to Latin-1 on a page with no `<meta charset>`, and a link
written `/关于/` would be read as `/å…³äºŽ/`.
"""

from __future__ import annotations

import re

import lxml.etree
import lxml.html


def parse_page(html: str | bytes) -> lxml.html.HtmlElement | None:
    """The page's document, or None when it is empty or not HTML at all."""
    data = html.encode("utf-8") if isinstance(html, str) else html
    if not data.strip():
        return None
    try:
        # A parser per page: lxml's parsers must not be shared between threads.
        parser = lxml.html.HTMLParser(encoding="utf-8")
        return lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return None


# <meta http-equiv="refresh" content="0; url=/new/">: the delay, and where it sends.
_REFRESH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[;,]\s*(?:url\s*=\s*)?['\"]?([^'\"]+)", re.IGNORECASE)


def refresh_target(content: str) -> tuple[float, str] | None:
    """A meta refresh's `content` read: (its delay in seconds, where it sends), or None."""
    match = _REFRESH.match(content)
    return (float(match.group(1)), match.group(2).strip()) if match else None


def redirect_page_target(html: bytes) -> str | None:
    """Where a redirect page sends its reader — a page as jekyll-redirect-from writes them
    (`redirect_from`, `redirect_to`): a meta refresh at once, and `noindex` — or None."""
    if b"refresh" not in html or b"noindex" not in html:
        return None
    root = parse_page(html)
    if root is None:
        return None
    target, hidden = None, False
    for meta in root.iter("meta"):
        if meta.get("http-equiv", "").lower() == "refresh":
            found = refresh_target(meta.get("content", ""))
            target = found[1] if found and found[0] == 0 else None
        elif meta.get("name", "").lower() == "robots":
            hidden = "noindex" in meta.get("content", "").lower()
    return target if hidden else None
