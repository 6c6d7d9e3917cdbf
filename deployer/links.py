"""References in built HTML pages, and how a static server resolves them to files.

Pure functions: the health check uses them to list pages that point at files missing from
`_site` (a defect of the site, reported as a warning by `up`).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

_URL_ATTRIBUTES = {
    "a": ("href",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "script": ("src",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "iframe": ("src",),
    "track": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "form": ("action",),
}
_NON_HTTP = ("mailto:", "tel:", "javascript:", "data:", "sms:", "ftp:", "irc:", "news:")


@dataclass(frozen=True)
class Reference:
    url: str
    attribute: str  # e.g. "a href"
    line: int


class _ReferenceParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.references: list[Reference] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = _URL_ATTRIBUTES.get(tag, ())
        line = self.getpos()[0]
        for name, value in attrs:
            if name not in wanted or not value:
                continue
            urls = _srcset(value) if name == "srcset" else [value.strip()]
            self.references.extend(Reference(url, f"{tag} {name}", line) for url in urls if url)


def _srcset(value: str) -> list[str]:
    return [candidate.strip().split()[0] for candidate in value.split(",") if candidate.strip()]


def extract_references(html: str) -> list[Reference]:
    """Every URL an HTML page references through an attribute, with its line number."""
    parser = _ReferenceParser()
    parser.feed(html)
    parser.close()
    return parser.references


def internal_path(page: str, url: str, baseurl: str = "") -> str | None:
    """The site path a reference on `page` points to, or None if it leaves the site.

    `page` is the page's URL path (`/blog/about/index.html`); the result is a URL path
    without query or fragment, with `..` resolved (`/blog/assets/x.css`).
    """
    if url.startswith(_NON_HTTP) or url.startswith("#"):
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    path = unquote(parts.path)
    if not path:
        return None
    if not path.startswith("/"):
        path = posixpath.join(posixpath.dirname(page), path)
    trailing = path.endswith("/")
    path = posixpath.normpath(path)
    if trailing and path != "/":
        path += "/"
    return path


def resolve_file(path: str, files: frozenset[str], baseurl: str = "") -> str | None:
    """The `_site` file nginx serves for a URL path (as Jekyll's server would), or None.

    `/about/` -> `about/index.html`; `/about` -> `about`, `about.html` or `about/index.html`.
    """
    if baseurl:
        if path != baseurl and not path.startswith(baseurl + "/"):
            return None
        path = path[len(baseurl) :] or "/"
    relative = path.lstrip("/")
    if relative == "" or relative.endswith("/"):
        candidates = [relative + "index.html"]
    else:
        candidates = [relative, relative + ".html", relative + "/index.html"]
    return next((c for c in candidates if c in files), None)
