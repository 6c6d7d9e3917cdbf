"""Parse a built page as a browser reads it from our server.

nginx serves every page with `charset=utf-8` (docker/runtime/conf/nginx.conf), and a
browser follows that header before any `<meta charset>`, so pages are parsed as UTF-8 —
without it libxml2 falls back to Latin-1 on a page with no `<meta charset>`, and a link
written `/关于/` would be read as `/å…³äºŽ/`.
"""

from __future__ import annotations

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
