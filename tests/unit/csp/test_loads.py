"""What a page loads and runs, by the directive a browser judges it under."""

from __future__ import annotations

from deployer.csp.loads import Load, css_loads, digest_of, page_loads

PAGE = """<!doctype html>
<html><head>
<link rel="stylesheet" href="/assets/main.css">
<link rel="icon" href="/favicon.png">
<link rel="preload" as="font" href="https://fonts.example/a.woff2">
<link rel="alternate" type="application/rss+xml" href="/feed.xml">
<script src="https://cdn.example/app.js"></script>
<script>var a = 1;</script>
<script type="application/ld+json">{"@type": "Person"}</script>
<script></script>
<style>.x { background: url("/img/bg.png") }</style>
</head><body onload="start()">
<img src="/a.png" srcset="/a-2x.png 2x, https://img.example/a-3x.png 3x" style="color: red">
<video poster="/poster.jpg"><source src="/movie.mp4"></video>
<iframe src="https://www.youtube.com/embed/x"></iframe>
<iframe srcdoc="<p>hi</p>"></iframe>
<form action="https://forms.example/send"></form>
<a href="javascript:void(0)">nothing</a>
<template><img src="https://never.example/x.png"></template>
<noscript><img src="https://never.example/y.png"></noscript>
</body></html>
"""
CSS = """/* url(/commented.png) */
@import url("print.css");
@font-face { font-family: X; src: url(../fonts/x.woff2) format("woff2"); }
body { background: url('/img/body.png'); }
"""


def _brief(loads: list[Load]) -> list[tuple[str, str | None]]:
    return [(load.directive, load.url or load.what) for load in loads]


def test_a_page_loads_what_its_elements_name_in_document_order() -> None:
    loads = page_loads(
        PAGE, "/blog/index.html", lambda url: CSS if url.endswith("main.css") else None
    )
    assert _brief(loads) == [
        ("style-src-elem", "/assets/main.css"),
        ("style-src-elem", "/assets/print.css"),
        ("font-src", "/fonts/x.woff2"),
        ("img-src", "/img/body.png"),
        ("img-src", "/favicon.png"),
        ("font-src", "https://fonts.example/a.woff2"),
        ("script-src-elem", "https://cdn.example/app.js"),
        ("script-src-elem", "inline script"),
        ("style-src-elem", "inline style"),
        ("img-src", "/img/bg.png"),
        ("script-src-attr", "onload handler"),
        ("style-src-attr", "style attribute"),
        ("img-src", "/a.png"),
        ("img-src", "/a-2x.png"),
        ("img-src", "https://img.example/a-3x.png"),
        ("img-src", "/poster.jpg"),
        ("media-src", "/movie.mp4"),
        ("frame-src", "https://www.youtube.com/embed/x"),
        ("form-action", "https://forms.example/send"),
        ("script-src-elem", "javascript: URL (a href)"),
    ]
    inline = next(load for load in loads if load.what == "inline script")
    assert inline.digest == digest_of("var a = 1;") and inline.line == 8
    stylesheet_font = next(load for load in loads if load.directive == "font-src")
    assert (stylesheet_font.file, stylesheet_font.line) == ("/assets/main.css", 3)


def test_a_stylesheet_ignores_comments_and_knows_fonts_from_images() -> None:
    assert _brief(css_loads(CSS, "/assets/main.css")) == [
        ("style-src-elem", "/assets/print.css"),
        ("font-src", "/fonts/x.woff2"),
        ("img-src", "/img/body.png"),
    ]


def test_the_hash_is_of_the_exact_text_as_browsers_take_it() -> None:
    assert digest_of("alert(1)") == "sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI="
    script = "\n  const s = '€ <b>';\n"
    (load,) = page_loads(f"<script>{script}</script>", "/x.html")
    assert load.digest == digest_of(script)


def test_an_inline_loader_snippet_loads_the_script_it_names() -> None:
    snippet = """
    var d = document, s = d.createElement('script');
    s.src = 'https://myblog.disqus.com/embed.js';
    ga('create', 'UA-1'); g = "//www.google-analytics.com/analytics.js";
    var not_a_script = 'https://example.com/page.html';
    """
    loads = page_loads(f"<p>x</p>\n<script>{snippet}</script>", "/post.html")
    assert [(load.directive, load.url, load.line) for load in loads if load.url] == [
        ("script-src-elem", "https://myblog.disqus.com/embed.js", 4),
        ("script-src-elem", "//www.google-analytics.com/analytics.js", 5),
    ]
