"""The policy derived for a page: the strict base plus exactly what the page loads."""

from __future__ import annotations

from deployer.csp.derive import CspSettings, SitePolicy, derive_site_policy, source_for
from deployer.csp.directives import Policy
from deployer.csp.loads import digest_of
from deployer.headers import strict_policy

BASE = Policy.parse(strict_policy())
FONTS = "https://fonts.googleapis.com/css2?family=Inter"
GTAG = "gtag('config', 'G-1');"
PAGE = f"""<html><head>
<link rel="stylesheet" href="{FONTS}">
<script src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script>{GTAG}</script>
<script src="//platform.example.net/widget.js"></script>
<script src="data:text/javascript,alert(1)"></script>
</head><body>
<button onclick="go()">Go</button>
<a href="javascript:go()">go</a>
<iframe src="https://www.youtube-nocookie.com/embed/x"></iframe>
<img src="https://images.example.com/a.png">
</body></html>"""


def _derive(pages: dict[str, str], settings: CspSettings | None = None) -> SitePolicy:
    return derive_site_policy(
        {path: html.encode() for path, html in pages.items()},
        BASE,
        settings or CspSettings(),
        lambda url: None,
    )


def test_a_page_gets_its_origins_hashes_and_companions_and_nothing_for_scripts_is_wild() -> None:
    derived = _derive({"/index.html": PAGE, "/plain.html": "<p>nothing</p>"})
    assert set(derived.pages) == {"/index.html"}  # the plain page keeps the default
    assert derived.default == strict_policy()
    policy = Policy.parse(derived.pages["/index.html"])
    scripts = policy.get("script-src") or ()
    assert scripts == (
        "'self'",
        "https://www.googletagmanager.com",
        f"'{digest_of(GTAG)}'",
        "platform.example.net",  # scheme-relative: works on http and https alike
        "'unsafe-hashes'",
        f"'{digest_of('go()')}'",
    )
    assert policy.get("font-src") == ("'self'", "data:", "https://fonts.gstatic.com")
    assert "https://*.google-analytics.com" in (policy.get("connect-src") or ())
    assert policy.get("frame-src") == ("'self'", "https://www.youtube-nocookie.com")
    assert policy.get("img-src") == BASE.get("img-src")  # https: covers every https image
    # What no policy without 'unsafe-inline' (or a bare scheme) allows stays blocked.
    assert [u.what for u in derived.unallowed] == [
        "script src data:",
        "javascript: URL (a href)",
    ]


def test_the_summary_says_what_was_allowed_in_one_line() -> None:
    derived = _derive({"/index.html": PAGE})
    assert derived.summary() == (
        "CSP: scripts from www.googletagmanager.com, platform.example.net; "
        "1 inline script and 1 event handler by hash; styles from fonts.googleapis.com; "
        "fonts from fonts.gstatic.com; connections to *.google-analytics.com, "
        "*.analytics.google.com, *.googletagmanager.com; frames from www.youtube-nocookie.com; "
        "2 javascript: URLs or data: scripts stay blocked"
    )
    assert _derive({"/a.html": "<p>a</p>"}).summary().startswith("CSP: strict:")


def test_where_each_source_came_from_is_kept() -> None:
    derived = _derive({"/a.html": PAGE, "/b.html": PAGE})
    why = {(a.directive, a.source): a for a in derived.allowed}
    fonts = why[("font-src", "https://fonts.gstatic.com")]
    assert (fonts.why, fonts.page, fonts.pages) == ("comes with fonts.googleapis.com", "/a.html", 2)
    label = derived.as_dict()
    assert label["pages_with_own_policy"] == 2 and label["hashes_not_listed"] == 0


def test_allow_adds_to_every_page_and_companions_extend_the_table() -> None:
    settings = CspSettings(
        allow=(("connect-src", ("https://api.example.com",)),),
        companions=(("cdn.example.org", (("font-src", ("https://fonts.example.org",)),)),),
    )
    page = '<script src="https://cdn.example.org/app.js"></script>'
    derived = _derive({"/a.html": page, "/b.html": "<p>b</p>"}, settings)
    assert "https://api.example.com" in (Policy.parse(derived.default).get("connect-src") or ())
    a = Policy.parse(derived.pages["/a.html"])
    assert "https://fonts.example.org" in (a.get("font-src") or ())
    assert "https://api.example.com" in (a.get("connect-src") or ())
    assert "/b.html" not in derived.pages  # the default already has what [csp] allow adds


def test_source_for_a_url() -> None:
    assert source_for("https://cdn.example.com:8443/x.js") == "https://cdn.example.com:8443"
    assert source_for("//cdn.example.com/x.js") == "cdn.example.com"
    assert source_for("data:") == "data:"
    assert source_for("ftp://files.example.com/x") is None
