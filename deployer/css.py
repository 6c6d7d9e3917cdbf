"""What a stylesheet names: the URLs of its `url()`s, `image-set()`s and `@import`s.

Read with tinycss2, the tokenizer the CSS Syntax specification describes (as browsers
tokenize): escapes are undone (`url(a\\)b.png)` names `a)b.png`), strings may hold braces
and comments may hold anything, and neither moves a rule's end. The link check and the
CSP analysis both read stylesheets through here.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import tinycss2
from tinycss2.ast import Node


class UrlKind(enum.Enum):
    IMPORT = "@import"  # a stylesheet it imports
    FONT = "@font-face url()"  # a font (inside an @font-face rule)
    OTHER = "url()"  # anything else (images, mostly)


@dataclass(frozen=True)
class CssUrl:
    url: str  # as written, escapes undone; may be empty
    line: int  # 1-based, in the text given
    kind: UrlKind


_IMAGE_SETS = frozenset({"image-set", "-webkit-image-set"})


def _urls_in(node: Node) -> Iterator[tuple[str, int]]:
    """The URL a token names (`url(x)`, `url("x")`), or the strings of an image-set."""
    if node.type == "url":
        yield str(node.value), node.source_line
    elif node.type == "function" and node.lower_name == "url":
        for argument in node.arguments:
            if argument.type == "string":
                yield str(argument.value), node.source_line
    elif node.type == "function" and node.lower_name in _IMAGE_SETS:
        for argument in node.arguments:
            if argument.type == "string":
                yield str(argument.value), argument.source_line
            else:
                yield from _urls_in(argument)


def _walk(nodes: Iterable[Node], in_font_face: bool) -> Iterator[CssUrl]:
    at_rule: str | None = None  # the at-keyword of the rule being read, until it ends
    importing = False  # after `@import`, before its first URL or string
    for node in nodes:
        if node.type == "at-keyword":
            at_rule = str(node.lower_value)
            importing = at_rule == "import"
            continue
        if node.type == "literal" and node.value == ";":
            at_rule, importing = None, False
            continue
        if importing and node.type == "string":
            yield CssUrl(str(node.value), node.source_line, UrlKind.IMPORT)
            importing = False
            continue
        if node.type == "{} block":
            yield from _walk(node.content, in_font_face or at_rule == "font-face")
            at_rule, importing = None, False
            continue
        for url, line in _urls_in(node):
            kind = UrlKind.IMPORT if importing else UrlKind.FONT if in_font_face else UrlKind.OTHER
            importing = False
            yield CssUrl(url, line, kind)
        if node.type in {"() block", "[] block"} or (
            node.type == "function" and node.lower_name not in {"url", *_IMAGE_SETS}
        ):
            inner = node.arguments if node.type == "function" else node.content
            yield from _walk(inner, in_font_face)


@functools.lru_cache(maxsize=512)
def css_urls(css: str) -> tuple[CssUrl, ...]:
    """Every URL a stylesheet (or a `<style>` block, or a `style=` attribute) names, in
    order: what it `@import`s, the `url()`s of its `@font-face` rules, and the others.

    Remembered by text: every page of a site loads the same stylesheets, and tokenizing
    one takes milliseconds."""
    return tuple(_walk(tinycss2.parse_component_value_list(css, skip_comments=True), False))
