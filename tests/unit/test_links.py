import pytest

from deployer.links import extract_references, internal_path, resolve_file

PAGE = """<!doctype html>
<html><head>
<link rel="stylesheet" href="/assets/main.css">
<link rel="alternate" type="application/atom+xml" href="/feed.xml">
</head><body>
<a href="../about/">About</a>
<a href="https://example.com/x">out</a> <a href="mailto:a@b.c">mail</a> <a href="#top">top</a>
<img src="img/a.png" srcset="img/a-2x.png 2x, /img/a-3x.png 3x">
<script src="/js/app.js?v=3"></script>
</body></html>
"""


def test_extract_references_with_lines_and_attributes() -> None:
    refs = extract_references(PAGE)
    found = {(r.url, r.attribute) for r in refs}
    assert ("/assets/main.css", "link href") in found
    assert ("../about/", "a href") in found
    assert ("img/a-2x.png", "img srcset") in found
    assert ("/img/a-3x.png", "img srcset") in found
    assert ("/js/app.js?v=3", "script src") in found
    line_of = {r.url: r.line for r in refs}
    assert line_of["/assets/main.css"] == 3
    assert line_of["../about/"] == 6


@pytest.mark.parametrize(
    ("page", "url", "expected"),
    [
        ("/blog/2026/01/post.html", "../../about/", "/blog/about/"),
        ("/index.html", "img/a.png", "/img/a.png"),
        ("/index.html", "/js/app.js?v=3#x", "/js/app.js"),
        ("/a/b.html", "c%20d.html", "/a/c d.html"),
        ("/index.html", "https://example.com/", None),
        ("/index.html", "//cdn.example.com/x.js", None),
        ("/index.html", "mailto:x@y.z", None),
        ("/index.html", "#top", None),
    ],
)
def test_internal_path(page: str, url: str, expected: str | None) -> None:
    assert internal_path(page, url) == expected


FILES = frozenset({"index.html", "about/index.html", "contact.html", "feed.xml", "blog/x.html"})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "index.html"),
        ("/about/", "about/index.html"),
        ("/about", "about/index.html"),
        ("/contact", "contact.html"),
        ("/contact.html", "contact.html"),
        ("/feed.xml", "feed.xml"),
        ("/missing", None),
        ("/missing/", None),
    ],
)
def test_resolve_file_like_jekylls_server(path: str, expected: str | None) -> None:
    assert resolve_file(path, FILES) == expected


def test_resolve_file_under_a_baseurl() -> None:
    assert resolve_file("/site/about/", FILES, "/site") == "about/index.html"
    assert resolve_file("/site", FILES, "/site") == "index.html"
    assert resolve_file("/about/", FILES, "/site") is None
