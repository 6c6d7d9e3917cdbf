"""Stylesheets read as browsers tokenize them (tinycss2): escapes, strings holding braces
and comments move nothing, and every URL keeps its kind and line."""

from __future__ import annotations

from deployer.check.links import css_references
from deployer.csp.loads import css_loads
from deployer.css import CssUrl, UrlKind, css_urls


def test_imports_fonts_and_other_urls_with_their_lines() -> None:
    css = (
        '@import "base.css";\n'
        "@import url(print.css) print;\n"
        "@font-face {\n  font-family: X;\n  src: url(x.woff2) format('woff2');\n}\n"
        "body { background: url('bg.png'); }\n"
    )
    assert list(css_urls(css)) == [
        CssUrl("base.css", 1, UrlKind.IMPORT),
        CssUrl("print.css", 2, UrlKind.IMPORT),
        CssUrl("x.woff2", 5, UrlKind.FONT),
        CssUrl("bg.png", 7, UrlKind.OTHER),
    ]


def test_escapes_are_undone() -> None:
    assert [u.url for u in css_urls(r"a { background: url(a\)b.png) }")] == ["a)b.png"]
    assert [u.url for u in css_urls(r'a { background: url("q\"uote.png") }')] == ['q"uote.png']


def test_a_string_holding_a_brace_does_not_end_the_font_face_rule() -> None:
    css = '@font-face { font-family: "}"; src: url(late.woff) }\nb { background: url(i.png) }'
    assert [(u.url, u.kind) for u in css_urls(css)] == [
        ("late.woff", UrlKind.FONT),
        ("i.png", UrlKind.OTHER),
    ]


def test_comments_hold_anything_and_name_nothing() -> None:
    css = "/* url(ghost.png) @import 'ghost.css'; } */\na { background: url(real.png) }"
    assert css_urls(css) == (CssUrl("real.png", 2, UrlKind.OTHER),)


def test_nested_rules_and_image_sets() -> None:
    css = (
        "@media (min-width: 1px) { @font-face { src: url(m.woff) } "
        'p { background: image-set("a.png" 1x, url(b.png) 2x) } }'
    )
    assert [(u.url, u.kind) for u in css_urls(css)] == [
        ("m.woff", UrlKind.FONT),
        ("a.png", UrlKind.OTHER),
        ("b.png", UrlKind.OTHER),
    ]


def test_the_link_check_and_the_csp_analysis_read_the_same_urls() -> None:
    css = "@import 'a.css';\n@font-face { src: url(f.woff) }\ni { background: url(i.png) }"
    assert [(r.url, r.attribute) for r in css_references(css)] == [
        ("a.css", "css @import"),
        ("f.woff", "css url()"),
        ("i.png", "css url()"),
    ]
    assert [(load.directive, load.url) for load in css_loads(css, "/assets/site.css")] == [
        ("style-src-elem", "/assets/a.css"),
        ("font-src", "/assets/f.woff"),
        ("img-src", "/assets/i.png"),
    ]
