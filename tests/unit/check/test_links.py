import pytest

from deployer.check.links import Target, css_references, internal_target, parse_html, xml_references

PAGE = """<!doctype html>
<html><head>
<link rel="stylesheet" href="/assets/main.css">
<link rel="alternate" type="application/atom+xml" href="/feed.xml">
</head><body id="top">
<a href="../about/">About</a><h2 id="intro">Intro</h2>
<a href="https://example.com/x">out</a> <a href="mailto:a@b.c">mail</a> <a href="#intro">in</a>
<img src="img/a.png" srcset="img/a-2x.png 2x, /img/a-3x.png 3x">
<script src="/js/app.js?v=3"></script><a name="legacy"></a>
<div style="background: url('/img/bg.png')"></div>
</body></html>
"""


def test_parse_html_references_lines_ids() -> None:
    page = parse_html(PAGE)
    found = {(r.url, r.attribute) for r in page.references}
    assert ("/assets/main.css", "link href") in found
    assert ("../about/", "a href") in found
    assert ("img/a-2x.png", "img srcset") in found
    assert ("/img/a-3x.png", "img srcset") in found
    assert ("/js/app.js?v=3", "script src") in found
    assert ("#intro", "a href") in found
    assert ("/img/bg.png", "div style url()") in found
    line_of = {r.url: r.line for r in page.references}
    assert line_of["/assets/main.css"] == 3
    assert line_of["../about/"] == 6
    assert page.ids == {"top", "intro", "legacy"}
    assert page.refresh is None


def test_a_page_without_meta_charset_is_read_as_utf8_as_our_server_serves_it() -> None:
    # No <meta charset>: libxml2 alone would read these bytes as Latin-1 (/å\x85³äº\x8e/).
    page = parse_html('<p><a href="/关于/">关于</a> <img src="/图片/猫.png"></p>'.encode())
    assert [r.url for r in page.references] == ["/关于/", "/图片/猫.png"]


def test_meta_refresh_is_a_reference_and_a_redirect() -> None:
    page = parse_html('<meta http-equiv="refresh" content="0; url=/new/"><a href="/x">x</a>')
    assert page.refresh == "/new/"
    assert ("/new/", "meta refresh") in {(r.url, r.attribute) for r in page.references}


def test_css_references_with_lines_and_comments() -> None:
    css = (
        '@import "base.css";\n/* url(ignored.png) */\n'
        "body { background: url( 'img/bg.png' ); }\n"
        '@font-face { src: url("../fonts/a.woff2") format("woff2"), url(data:font/woff;x); }\n'
    )
    refs = [(r.url, r.attribute, r.line) for r in css_references(css)]
    assert refs == [
        ("base.css", "css @import", 1),
        ("img/bg.png", "css url()", 3),
        ("../fonts/a.woff2", "css url()", 4),
        ("data:font/woff;x", "css url()", 4),
    ]


def test_feed_and_sitemap_references() -> None:
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><link href="/feed.xml" rel="self"/>'
        '<entry><link href="/2026/a.html" rel="alternate"/></entry></feed>'
    )
    assert [r.url for r in xml_references(atom)] == ["/feed.xml", "/2026/a.html"]
    rss = "<rss><channel><link>https://example.com/</link><item><link>/b.html</link></item></channel></rss>"
    assert [r.url for r in xml_references(rss)] == ["https://example.com/", "/b.html"]
    sitemap = (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<url><loc>https://example.com/about/</loc></url></urlset>"
    )
    assert [(r.url, r.attribute) for r in xml_references(sitemap)] == [
        ("https://example.com/about/", "sitemap loc")
    ]
    assert xml_references("not xml <") == []


@pytest.mark.parametrize(
    ("page", "url", "expected"),
    [
        ("/blog/2026/01/post.html", "../../about/", Target("/blog/about/", "")),
        ("/index.html", "img/a.png", Target("/img/a.png", "")),
        ("/index.html", "/js/app.js?v=3#x", Target("/js/app.js", "x")),
        ("/a/b.html", "c%20d.html", Target("/a/c d.html", "")),
        ("/a/b.html", "#sec%C3%A9", Target("/a/b.html", "secé")),
        ("/index.html", "https://example.com/", None),
        ("/index.html", "//cdn.example.com/x.js", None),
        ("/index.html", "mailto:x@y.z", None),
    ],
)
def test_internal_target(page: str, url: str, expected: Target | None) -> None:
    assert internal_target(page, url) == expected


def test_absolute_links_on_the_sites_own_url_are_internal() -> None:
    site = "https://blog.example.com"
    assert internal_target("/x.html", "https://blog.example.com/about/#me", site) == Target(
        "/about/", "me"
    )
    assert internal_target("/x.html", "https://other.example.com/about/", site) is None
