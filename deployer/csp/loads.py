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


def _runs_script(url: str) -> bool:
    return url.strip().lower().startswith("javascript:")


class _PageReader:
    """Reads one page's elements into what it loads, following its own stylesheets."""

    def __init__(self, page: str, stylesheet: Callable[[str], str | None] | None) -> None:
        self.page = page
        self.stylesheet = stylesheet
        self.found: list[Load] = []
        self._sheets: set[str] = set()

    def sheet(self, url: str) -> None:
        """What one of the site's stylesheets loads (its @imports followed once)."""
        if self.stylesheet is None or url in self._sheets:
            return
        self._sheets.add(url)
        text = self.stylesheet(url)
        if text is None:
            return
        for load in css_loads(text, url.split("?", 1)[0].split("#", 1)[0]):
            self.found.append(load)
            if load.directive == "style-src-elem" and load.url:
                self.sheet(load.url)

    def add(self, directive: str, value: str, line: int, what: str) -> None:
        """A URL the page names, under `directive` (a `javascript:` URL runs a script)."""
        if _runs_script(value):
            self.found.append(
                Load("script-src-elem", None, None, line, f"javascript: URL ({what})", self.page)
            )
            return
        url = _resolve(value, self.page)
        if url is not None:
            self.found.append(Load(directive, url, None, line, what, self.page))
            if directive == "style-src-elem":
                self.sheet(url)

    def inline(self, directive: str, text: str, line: int, what: str) -> None:
        self.found.append(Load(directive, None, digest_of(text), line, what, self.page))

    def attributes(self, attrs: dict[str, str], line: int) -> None:
        """Event handlers and a `style=` attribute, on any element."""
        for name, value in attrs.items():
            if _HANDLER.match(name) and value.strip():
                self.inline("script-src-attr", value, line, f"{name} handler")
        style = attrs.get("style", "")
        if style.strip():
            self.inline("style-src-attr", style, line, "style attribute")
            self.found.extend(
                Load(load.directive, load.url, None, line, f"{load.what} in a style attribute",
                     self.page)
                for load in css_loads(style, self.page)
            )  # fmt: skip

    def script(self, element: lxml.html.HtmlElement, attrs: dict[str, str], line: int) -> None:
        if attrs.get("type", "").strip().lower() not in _SCRIPT_TYPES:
            return  # a data block: never run, never checked
        if "src" in attrs:
            self.add("script-src-elem", attrs["src"], line, "script src")
        elif element.text:
            self.inline("script-src-elem", element.text, line, "inline script")
            for match in _SCRIPT_LITERAL.finditer(element.text):
                at = line + element.text.count("\n", 0, match.start())
                self.add("script-src-elem", match.group(1), at, "script an inline script loads")

    def style(self, element: lxml.html.HtmlElement, line: int) -> None:
        if element.text is not None:
            self.inline("style-src-elem", element.text, line, "inline style")
            self.found.extend(css_loads(element.text, self.page, line_offset=line - 1))

    def link(self, attrs: dict[str, str], line: int) -> None:
        rels = set(attrs.get("rel", "").lower().split())
        href = attrs["href"]
        preload = attrs.get("as", "").lower()
        if "stylesheet" in rels:
            self.add("style-src-elem", href, line, "link stylesheet")
        elif rels & _ICON_RELS:
            self.add("img-src", href, line, "link icon")
        elif "manifest" in rels:
            self.add("manifest-src", href, line, "link manifest")
        elif "modulepreload" in rels:
            self.add("script-src-elem", href, line, "link modulepreload")
        elif "preload" in rels and preload in _PRELOAD_AS:
            self.add(_PRELOAD_AS[preload], href, line, f"link preload as {preload}")

    def images(self, tag: str, attrs: dict[str, str], line: int, media: bool = False) -> None:
        """`src` and `srcset` of an image (or a <source>: of a video or audio, `media`)."""
        what = "source" if tag == "source" else tag
        if attrs.get("src"):
            self.add("media-src" if media else "img-src", attrs["src"], line, f"{what} src")
        for url in _srcset(attrs.get("srcset", "")):
            self.add("img-src", url, line, f"{what} srcset")

    def element(self, element: lxml.html.HtmlElement) -> None:
        tag = str(element.tag).lower()
        attrs = _attrs(element)
        line = cast(int | None, element.sourceline) or 0  # lxml-stubs mistype it
        self.attributes(attrs, line)
        named = _NAMED_URLS.get(tag)
        if tag == "script":
            self.script(element, attrs, line)
        elif tag == "style":
            self.style(element, line)
        elif tag == "link" and attrs.get("href"):
            self.link(attrs, line)
        elif tag == "img" or (tag == "input" and attrs.get("type", "").lower() == "image"):
            self.images(tag, attrs, line)
        elif tag == "source":
            parent = element.getparent()
            media = parent is not None and str(parent.tag).lower() in {"video", "audio"}
            self.images(tag, attrs, line, media=media)
        elif tag in {"iframe", "frame"} and "srcdoc" in attrs:
            return  # its content is inline, under the page's own policy
        elif tag == "form":
            self.add("form-action", attrs.get("action") or self.page, line, "form action")
        elif tag == "image":  # SVG
            image = attrs.get("href") or attrs.get("{http://www.w3.org/1999/xlink}href")
            if image:
                self.add("img-src", image, line, "svg image href")
        elif tag in {"a", "area"} and _runs_script(attrs.get("href", "")):
            self.add("script-src-elem", attrs["href"], line, f"{tag} href")
        for attribute, directive in named or ():
            if attrs.get(attribute):
                self.add(directive, attrs[attribute], line, f"{tag} {attribute}")


# Elements that name what they load in one attribute each: (attribute, directive).
_NAMED_URLS: dict[str, tuple[tuple[str, str], ...]] = {
    "video": (("src", "media-src"), ("poster", "img-src")),
    "audio": (("src", "media-src"),),
    "track": (("src", "media-src"),),
    "iframe": (("src", "frame-src"),),
    "frame": (("src", "frame-src"),),
    "object": (("data", "object-src"),),
    "embed": (("src", "object-src"),),
    "button": (("formaction", "form-action"),),
    "base": (("href", "base-uri"),),
}


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
    reader = _PageReader(page, stylesheet)
    for element in _elements(root):
        reader.element(element)
    return reader.found
