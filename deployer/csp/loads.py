"""What a page makes the browser load or run, each under the CSP directive that governs it.

Pure functions over text. A page loads what its elements name (`<script src>`, stylesheets,
icons, images, media, frames, objects, form targets, `<base>`), runs its inline scripts and
event handlers (`onclick=` …) and applies its inline styles; its own stylesheets (and what
they `@import`) load fonts (`@font-face`) and images (`url()`) under the page's policy.
An inline script that writes a script's URL as a string (the loader snippets of Disqus or
Google Analytics) is taken to load it. Content a browser does not load is left out: data
blocks (`<script type="application/ld+json">`), `<template>` and `<noscript>` contents
(scripting is on), empty inline scripts.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote, urljoin, urlsplit

import lxml.html

from deployer.css import UrlKind, css_urls
from deployer.pages import parse_page

# Script types a browser runs; any other type is a data block it neither runs nor checks.
_SCRIPT_TYPES = frozenset(
    {
        "", "module", "text/javascript", "application/javascript", "application/ecmascript",
        "application/x-ecmascript", "application/x-javascript", "text/ecmascript",
        "text/javascript1.0", "text/javascript1.1", "text/javascript1.2", "text/javascript1.3",
        "text/javascript1.4", "text/javascript1.5", "text/jscript", "text/livescript",
        "text/x-ecmascript", "text/x-javascript",
    }
)  # fmt: skip
# <link rel=preload as=…> and the directive each destination is fetched under.
_PRELOAD_AS = {
    "script": "script-src-elem",
    "style": "style-src-elem",
    "font": "font-src",
    "image": "img-src",
    "fetch": "connect-src",
    "audio": "media-src",
    "video": "media-src",
    "track": "media-src",
    "worker": "worker-src",
}
_ICON_RELS = frozenset({"icon", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"})
_INERT = frozenset({"template", "noscript"})
_HANDLER = re.compile(r"^on[a-z]+$")
_CSS_DIRECTIVES = {
    UrlKind.IMPORT: "style-src-elem",
    UrlKind.FONT: "font-src",
    UrlKind.OTHER: "img-src",
}
# A script URL written as a string in an inline script: the loader snippets of Disqus,
# Google Analytics and their like (`s.src = 'https://x.disqus.com/embed.js'`).
_SCRIPT_LITERAL = re.compile(
    r"""['"]((?:https?:)?//[A-Za-z0-9.-]+(?::\d+)?/[^'"\s]*?\.m?js(?:\?[^'"\s]*)?)['"]"""
)
# nginx sends every page with `charset=utf-8`, and a browser takes the header's charset
# over the page's own: hashes are of the UTF-8 text, whatever a <meta> says.


@dataclass(frozen=True)
class Load:
    """One thing a page loads or runs.

    `url` is as written, resolved against the file it is written in (a path such as
    `/assets/main.css`, or an absolute URL); None for inline content, whose `digest` is
    "sha256-…" of its text (None for a `javascript:` URL, which no hash can allow).
    """

    directive: str  # a key of policy.FALLBACKS: "script-src-elem", "font-src", …
    url: str | None
    digest: str | None
    line: int
    what: str  # "script src", "inline script", "onclick handler", "@font-face url()", …
    file: str  # the URL path of the file that names it (the page, or its stylesheet)

    @property
    def inline(self) -> bool:
        return self.url is None


def digest_of(text: str) -> str:
    """The CSP hash source of inline content, without quotes: "sha256-<base64>"."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _resolve(url: str, base: str) -> str | None:
    """`url` resolved against the URL path `base`; data: URLs shortened to their scheme;
    None for what loads nothing (empty, a fragment, about:blank)."""
    url = url.strip()
    lowered = url.lower()
    if not url or url.startswith("#") or lowered.startswith("about:"):
        return None
    if lowered.startswith(("data:", "blob:")):
        return lowered.split(":", 1)[0] + ":"
    if url.startswith("//") or re.match(r"^[a-z][a-z0-9+.-]*:", lowered):
        return url
    return urljoin(base, url)


def stylesheet_reader(
    read: Callable[[str], bytes | None], baseurl: str, site_url: str
) -> Callable[[str], str | None]:
    """What `page_loads` asks for a stylesheet by URL: one of the site's own (a path, or
    an absolute URL on its `url:`) read with `read(_site path)`; None for any other."""
    own = urlsplit(site_url) if site_url else None

    def stylesheet(url: str) -> str | None:
        parts = urlsplit(url)
        ours = own is not None and (parts.scheme, parts.netloc) == (own.scheme, own.netloc)
        if (parts.scheme or parts.netloc) and not ours:
            return None
        path = unquote(parts.path)
        if baseurl and path.startswith(baseurl + "/"):
            path = path[len(baseurl) :]
        data = read(path.lstrip("/")) if path.endswith(".css") else None
        return data.decode("utf-8", "replace") if data is not None else None

    return stylesheet


def _srcset(value: str) -> list[str]:
    return [candidate.strip().split()[0] for candidate in value.split(",") if candidate.strip()]


def css_loads(css: str, file: str, *, line_offset: int = 0) -> list[Load]:
    """What a stylesheet (or a `<style>` block, or a `style=` attribute) loads: `@import`
    under style-src, `url()` in `@font-face` under font-src, every other `url()` under
    img-src. `file` is the URL path relative URLs resolve against."""
    found = []
    for named in css_urls(css):
        url = _resolve(named.url, file)
        if url is not None:
            line = line_offset + named.line
            found.append(Load(_CSS_DIRECTIVES[named.kind], url, None, line, named.kind.value, file))
    return found


def _elements(root: lxml.html.HtmlElement) -> Iterator[lxml.html.HtmlElement]:
    """Every element a browser acts on, in document order: not inside <template> or
    <noscript>."""
    stack = [root]
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str):
            continue  # comments, processing instructions
        if element.tag in _INERT:
            continue
        yield element
        stack.extend(reversed(list(element)))


def _attrs(element: lxml.html.HtmlElement) -> dict[str, str]:
    # lxml gives str attributes for a document parsed from bytes; the stubs allow bytes.
    return {str(k).lower(): str(v) for k, v in element.attrib.items()}


def page_loads(
    html: str | bytes,
    page: str,
    stylesheet: Callable[[str], str | None] | None = None,
) -> list[Load]:
    """Everything the page at URL path `page` loads and runs, in document order.

    `stylesheet(url)` returns the text of one of the site's own stylesheets (a resolved
    URL as written on the page), or None; what those load is included, under the page's
    policy, with `@import`s followed once.
    """
    root = parse_page(html)
    if root is None:
        return []
    found: list[Load] = []
    seen_sheets: set[str] = set()

    def sheet(url: str) -> None:
        if stylesheet is None or url in seen_sheets:
            return
        seen_sheets.add(url)
        text = stylesheet(url)
        if text is None:
            return
        for load in css_loads(text, url.split("?", 1)[0].split("#", 1)[0]):
            found.append(load)
            if load.directive == "style-src-elem" and load.url:
                sheet(load.url)

    def add(directive: str, value: str, line: int, what: str) -> None:
        if value.strip().lower().startswith("javascript:"):
            found.append(
                Load("script-src-elem", None, None, line, f"javascript: URL ({what})", page)
            )
            return
        url = _resolve(value, page)
        if url is not None:
            found.append(Load(directive, url, None, line, what, page))
            if directive == "style-src-elem":
                sheet(url)

    for element in _elements(root):
        tag = str(element.tag).lower()
        attrs = _attrs(element)
        line = cast(int | None, element.sourceline) or 0  # lxml-stubs mistype it
        for name, value in attrs.items():
            if _HANDLER.match(name) and value.strip():
                found.append(
                    Load("script-src-attr", None, digest_of(value), line, f"{name} handler", page)
                )
        if attrs.get("style", "").strip():
            style = attrs["style"]
            found.append(
                Load("style-src-attr", None, digest_of(style), line, "style attribute", page)
            )
            found.extend(
                Load(
                    load.directive, load.url, None, line, f"{load.what} in a style attribute", page
                )
                for load in css_loads(style, page)
            )
        if tag == "script":
            kind = attrs.get("type", "").strip().lower()
            if kind not in _SCRIPT_TYPES:
                continue  # a data block: never run, never checked
            if "src" in attrs:
                add("script-src-elem", attrs["src"], line, "script src")
            elif element.text:
                found.append(
                    Load(
                        "script-src-elem",
                        None,
                        digest_of(element.text),
                        line,
                        "inline script",
                        page,
                    )
                )
                for match in _SCRIPT_LITERAL.finditer(element.text):
                    at = line + element.text.count("\n", 0, match.start())
                    add("script-src-elem", match.group(1), at, "script an inline script loads")
        elif tag == "style" and element.text is not None:
            found.append(
                Load("style-src-elem", None, digest_of(element.text), line, "inline style", page)
            )
            found.extend(css_loads(element.text, page, line_offset=line - 1))
        elif tag == "link" and attrs.get("href"):
            rels = set(attrs.get("rel", "").lower().split())
            href = attrs["href"]
            if "stylesheet" in rels:
                add("style-src-elem", href, line, "link stylesheet")
            elif rels & _ICON_RELS:
                add("img-src", href, line, "link icon")
            elif "manifest" in rels:
                add("manifest-src", href, line, "link manifest")
            elif "modulepreload" in rels:
                add("script-src-elem", href, line, "link modulepreload")
            elif "preload" in rels and attrs.get("as", "").lower() in _PRELOAD_AS:
                directive = _PRELOAD_AS[attrs["as"].lower()]
                add(directive, href, line, f"link preload as {attrs['as'].lower()}")
        elif tag == "img" or (tag == "input" and attrs.get("type", "").lower() == "image"):
            if attrs.get("src"):
                add("img-src", attrs["src"], line, f"{tag} src")
            for url in _srcset(attrs.get("srcset", "")):
                add("img-src", url, line, f"{tag} srcset")
        elif tag == "source":
            parent = element.getparent()
            media = parent is not None and str(parent.tag).lower() in {"video", "audio"}
            if attrs.get("src"):
                add("media-src" if media else "img-src", attrs["src"], line, "source src")
            for url in _srcset(attrs.get("srcset", "")):
                add("img-src", url, line, "source srcset")
        elif tag in {"video", "audio"}:
            if attrs.get("src"):
                add("media-src", attrs["src"], line, f"{tag} src")
            if tag == "video" and attrs.get("poster"):
                add("img-src", attrs["poster"], line, "video poster")
        elif tag == "track" and attrs.get("src"):
            add("media-src", attrs["src"], line, "track src")
        elif tag in {"iframe", "frame"} and attrs.get("src") and "srcdoc" not in attrs:
            add("frame-src", attrs["src"], line, f"{tag} src")
        elif tag == "object" and attrs.get("data"):
            add("object-src", attrs["data"], line, "object data")
        elif tag == "embed" and attrs.get("src"):
            add("object-src", attrs["src"], line, "embed src")
        elif tag == "form":
            add("form-action", attrs.get("action") or page, line, "form action")
        elif tag == "button" and attrs.get("formaction"):
            add("form-action", attrs["formaction"], line, "button formaction")
        elif tag == "base" and attrs.get("href"):
            add("base-uri", attrs["href"], line, "base href")
        elif tag == "image":  # SVG
            image = attrs.get("href") or attrs.get("{http://www.w3.org/1999/xlink}href")
            if image:
                add("img-src", image, line, "svg image href")
        elif tag in {"a", "area"} and attrs.get("href", "").strip().lower().startswith(
            "javascript:"
        ):
            add("script-src-elem", attrs["href"], line, f"{tag} href")
    return found
