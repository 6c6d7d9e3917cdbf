"""The Content-Security-Policy fits the site: derived from what its pages load, checked
statically, and proven in Chromium — which reports a CSP violation before any network
fetch, so all of this works on a machine without the internet.

The site is shaped like a popular résumé theme: Google Fonts and Font Awesome stylesheets,
Google Tag Manager with its inline snippet, the GitHub buttons script, a YouTube iframe,
an image with an `onload` handler, a button with an `onclick` handler and a contact form
posting to another origin.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from deployer.check.browser import (
    CHROMIUM_FLAGS,
    REPORT_VIOLATIONS,
    VIOLATION_PREFIX,
    check_in_browser,
    find_chromium,
)
from deployer.check.findings import Finding, Kind
from deployer.check.served import check_site
from deployer.csp.directives import Policy
from deployer.csp.loads import page_loads
from deployer.engine import Engine
from deployer.headers import SITE_CSP_CONF, strict_policy
from deployer.image.extract import read_image_file
from deployer.labels import Label
from deployer.progress import Progress
from deployer.provenance.sbom import files_from_labels
from deployer.resources import site_template_dir
from deployer.serve.preview import stop_preview
from deployer.serve.switch import UpResult
from deployer.site import Site
from tests.conftest import SiteFactory
from tests.integration.conftest import deploy, served

pytestmark = pytest.mark.engine

GTAG = """
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());
  gtag('config', 'G-TEST123');
"""
PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
LAYOUT = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{{{ page.title }}}}</title>
<link href="https://fonts.googleapis.com/css?family=Roboto:300,400" rel="stylesheet">
<link rel="stylesheet" href="https://use.fontawesome.com/releases/v5.15.4/css/all.css">
<link rel="stylesheet" href="{{{{ '/assets/main.css' | relative_url }}}}">
<script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST123"></script>
<script>{GTAG}</script>
<script type="application/ld+json">{{"@type": "Person", "name": "Ada"}}</script>
</head>
<body>
<header><a class="github-button" href="https://github.com/example">Follow</a></header>
{{{{ content }}}}
<script async defer src="https://buttons.github.io/buttons.js"></script>
</body>
</html>
"""
INDEX = f"""---
layout: resume
title: Ada Lovelace
---
<h1>Ada Lovelace</h1>
<img id="pixel" alt="" src="{PIXEL}" onload="this.dataset.loaded = 'yes'">
<iframe width="560" height="315" src="https://www.youtube.com/embed/dQw4w9WgXcQ"></iframe>
<button id="hello" onclick="this.textContent = 'clicked'">Say hello</button>
<form id="contact" action="https://formspree.io/f/abcdefgh" method="POST">
<input name="email" value="ada@example.com"><button id="send" type="submit">Send</button>
</form>
<p><a href="{{{{ '/about/' | relative_url }}}}">About</a></p>
"""
RESUME: dict[str, str | bytes | None] = {"_layouts/resume.html": LAYOUT, "index.md": INDEX}
ADDED_SCRIPT = "document.documentElement.dataset.edited = 'yes';"

Deployed = tuple[Site, UpResult]


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.fixture(scope="module")
def derived(engine: Engine, make_site: SiteFactory) -> Iterator[Deployed]:
    site, _config, result = deploy(engine, make_site("resume", RESUME))
    yield site, result
    stop_preview(engine, site)


@pytest.fixture(scope="module")
def strict(engine: Engine, make_site: SiteFactory) -> Iterator[Deployed]:
    files = {**RESUME, "sitedeploy.toml": '[csp]\nmode = "strict"\n'}
    site, _config, result = deploy(engine, make_site("resume-strict", files))
    yield site, result
    stop_preview(engine, site)


def _policy(url: str) -> Policy:
    header = requests.get(url, timeout=10).headers["Content-Security-Policy"]
    return Policy.parse(header)


def _key(finding: Finding) -> tuple[str, str | None, str]:
    """What both checks agree on: the page, the directive, and the blocked origin."""
    page = (finding.referrer or "").split(" ")[0].rstrip(",")
    blocked = finding.url if finding.url == "inline" else urlsplit(finding.url).netloc
    return page, finding.directive, blocked


def _in_chromium(url: str, act: str | None = None) -> list[dict[str, Any]]:
    """CSP violations of `url` in Chromium after clicking or submitting `act` (a CSS
    selector); every request off the page's origin is aborted, as in `check --browser`."""
    from playwright.sync_api import sync_playwright

    origin = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context()
            context.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith(origin) else route.abort()
                ),
            )
            violations: list[dict[str, Any]] = []
            context.add_init_script(REPORT_VIOLATIONS)
            page = context.new_page()
            page.on(
                "console",
                lambda message: (
                    violations.append(json.loads(message.text[len(VIOLATION_PREFIX) :]))
                    if message.text.startswith(VIOLATION_PREFIX)
                    else None
                ),
            )
            page.goto(url, wait_until="load")
            if act:
                page.click(act, no_wait_after=True)
            page.wait_for_timeout(300)
            return violations
        finally:
            browser.close()


def test_the_derived_policy_allows_what_the_pages_load_and_no_more(derived: Deployed) -> None:
    _site, result = derived
    policy = _policy(result.url + "/")
    scripts = policy.get("script-src") or ()
    assert "'unsafe-inline'" not in scripts and not any("*" in s for s in scripts)
    assert {"https://www.googletagmanager.com", "https://buttons.github.io"} <= set(scripts)
    assert _sha(GTAG) in scripts
    assert "'unsafe-hashes'" in scripts
    assert _sha("this.dataset.loaded = 'yes'") in scripts
    assert _sha("this.textContent = 'clicked'") in scripts
    assert "https://fonts.gstatic.com" in (policy.get("font-src") or ())  # the companion
    assert "https://fonts.googleapis.com" in (policy.get("style-src") or ())
    assert "https://www.youtube.com" in (policy.get("frame-src") or ())
    assert "https://formspree.io" in (policy.get("form-action") or ())
    # A page that loads nothing from elsewhere keeps the strict policy.
    assert str(_policy(result.url + "/about/")) == strict_policy()
    assert result.images.csp_summary.startswith(
        "CSP: scripts from www.googletagmanager.com, buttons.github.io"
    )


def test_chromium_loads_every_resource_under_the_derived_policy(derived: Deployed) -> None:
    _site, result = derived
    report = check_site(result.url, result.built, Progress(quiet=True), browser=True)
    csp = [f for f in report.findings if f.kind in {Kind.CSP_VIOLATION, Kind.CSP_BLOCKED}]
    assert csp == []
    assert _in_chromium(result.url + "/", act="#hello") == []
    assert _in_chromium(result.url + "/", act="#send") == []


def test_the_static_check_and_chromium_agree_under_the_strict_policy(strict: Deployed) -> None:
    _site, result = strict
    assert str(_policy(result.url + "/")) == strict_policy()
    report = check_site(result.url, result.built, Progress(quiet=True), browser=True)
    static = {_key(f) for f in report.findings if f.kind is Kind.CSP_BLOCKED}
    seen = {_key(f) for f in report.findings if f.kind is Kind.CSP_VIOLATION}
    page = result.url + "/index.html"
    # What a page load runs into: both checks see exactly these.
    loaded = {
        (page, "style-src-elem", "fonts.googleapis.com"),
        (page, "style-src-elem", "use.fontawesome.com"),
        (page, "script-src-elem", "www.googletagmanager.com"),
        (page, "script-src-elem", "inline"),
        (page, "script-src-elem", "buttons.github.io"),
        (page, "frame-src", "www.youtube.com"),
        (page, "script-src-attr", "inline"),
    }
    assert seen == loaded
    # The click handler and the form's target are judged by a browser when used.
    assert static == loaded | {(page, "form-action", "formspree.io")}
    clicked = _in_chromium(page, act="#hello")  # the img's onload, then the click's
    assert [v["directive"] for v in clicked].count("script-src-attr") == 2
    sent = _in_chromium(page, act="#send")
    assert ("form-action", "https://formspree.io/f/abcdefgh") in {
        (v["directive"], v["blocked"]) for v in sent
    }
    # `up` weighs them as warnings (the site's own defects), errors with --strict.
    warned = [w for w in result.warnings if isinstance(w, Finding)]
    assert {_key(w) for w in warned if w.kind is Kind.CSP_BLOCKED} == static


def test_the_image_says_what_its_policy_allows_and_why(engine: Engine, derived: Deployed) -> None:
    _site, result = derived
    image = engine.client.images.get(result.images.image.tag)
    csp = json.loads(image.labels[Label.CSP])
    assert csp["mode"] == "derived"
    why = {(a["directive"], a["source"]): a for a in csp["allowed"]}
    assert (
        why[("font-src", "https://fonts.gstatic.com")]["why"] == "comes with fonts.googleapis.com"
    )
    gtag = why[("script-src", "https://www.googletagmanager.com")]
    assert (gtag["why"], gtag["page"]) == ("script src", "/index.html")
    # One layer of the site's own nginx files, explained by the recipe and the SBOM.
    history = " ".join(layer.created_by for layer in engine.history(result.images.image.tag))
    assert "COPY /etc/nginx/ /etc/nginx/" in history
    assert (
        f"COPY --from={result.images.image.tag.split(':')[0]}-conf:"
        in image.labels[Label.DOCKERFILE]
    )
    shipped = read_image_file(engine, result.images.image.tag, SITE_CSP_CONF)
    listed = {f.path: f for f in files_from_labels(image.labels)}[SITE_CSP_CONF]
    assert listed.sha256 == hashlib.sha256(shipped).hexdigest()
    assert _sha(GTAG).encode() in shipped


def test_an_added_inline_script_gets_its_hash_on_the_next_up(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site("resume-edit", RESUME)
    site, _config, first = deploy(engine, folder)
    try:
        assert _sha(ADDED_SCRIPT) not in (_policy(first.url + "/about/").get("script-src") or ())
        about = folder / "about.md"
        about.write_text(about.read_text() + f"\n<script>{ADDED_SCRIPT}</script>\n")
        _site, _config, second = deploy(engine, folder, port=int(urlsplit(first.url).port or 0))
        assert _sha(ADDED_SCRIPT) in (_policy(second.url + "/about/").get("script-src") or ())
        report = check_site(second.url, second.built, Progress(quiet=True), browser=True)
        assert [f for f in report.findings if f.kind is Kind.CSP_VIOLATION] == []
    finally:
        stop_preview(engine, site)


def test_the_static_check_names_what_a_site_s_own_policy_blocks(
    engine: Engine, make_site: SiteFactory
) -> None:
    own = "default-src 'self'; script-src 'self' https://buttons.github.io; frame-src 'none'"
    files = {**RESUME, "sitedeploy.toml": f'[headers]\nContent-Security-Policy = "{own}"\n'}
    with served(engine, make_site("resume-own", files)) as result:
        assert requests.get(result.url, timeout=10).headers["Content-Security-Policy"] == own
        blocked = {
            (f.directive, f.url.split("?")[0]): f
            for f in result.warnings
            if isinstance(f, Finding) and f.kind is Kind.CSP_BLOCKED
        }
    assert ("script-src-elem", "https://buttons.github.io/buttons.js") not in blocked
    gtag = blocked[("script-src-elem", "https://www.googletagmanager.com/gtag/js")]
    assert gtag.referrer == f"{result.url}/index.html line 9 (script src)"
    assert "the served policy's script-src is \"'self' https://buttons.github.io\"" in gtag.detail
    assert blocked[("frame-src", "https://www.youtube.com/embed/dQw4w9WgXcQ")].detail.startswith(
        "frame-src blocks it: the served policy's frame-src is \"'none'\""
    )
    inline = blocked[("script-src-elem", "inline")]
    assert f"its hash: {_sha(GTAG)}" in inline.detail


def test_the_starter_keeps_the_strict_policy_and_its_image_adds_no_file(
    engine: Engine, starter: tuple[Site, object, UpResult]
) -> None:
    _site, _config, result = starter
    for path in ("/", "/about/", "/assets/main.css", "/no-such-page"):
        assert str(_policy(result.url + path)) == strict_policy()
    history = " ".join(layer.created_by for layer in engine.history(result.images.image.tag))
    assert "-conf:" not in history
    assert result.images.csp_summary.startswith("CSP: strict")


def _blog(posts: int) -> dict[str, str | bytes | None]:
    """A blog shaped like the ones people run: hundreds of posts, some with CJK file
    names, each with minima's Disqus snippet (an inline script of its own, which loads
    https://<shortname>.disqus.com/embed.js)."""
    config = (site_template_dir() / "_config.yml").read_text()
    files: dict[str, str | bytes | None] = {
        "_config.yml": config.replace('\nurl: ""', '\nurl: "https://blog.example.com"')
        + "disqus:\n  shortname: myblog\n",
    }
    for number in range(posts):
        day = date(2025, 1, 1) + timedelta(days=number)
        slug = f"日本語の記事-{number}" if number % 15 == 0 else f"post-{number}"
        files[f"_posts/{day.isoformat()}-{slug}.md"] = (
            f"---\nlayout: post\ntitle: Post {number}\n---\nPost number {number}.\n"
        )
    return files


def test_a_blog_gets_one_hash_per_post_in_each_post_s_own_policy(
    engine: Engine, make_site: SiteFactory
) -> None:
    with served(engine, make_site("blog", _blog(300))) as result:
        blocked = [
            w for w in result.warnings if isinstance(w, Finding) and w.kind.startswith("csp")
        ]
        assert blocked == []
        assert result.images.csp["pages_with_own_policy"] >= 300
        cjk = next(f.path for f in result.built.files if "日本語の記事-15" in f.path)
        other = next(f.path for f in result.built.files if "post-16" in f.path)
        urls = [f"{result.url}/{quote(cjk)}", f"{result.url}/{quote(other)}"]
        pages = [requests.get(url, timeout=10) for url in urls]
        hashes = [
            {f"'{load.digest}'" for load in page_loads(page.content, "/") if load.digest}
            for page in pages
        ]
        for page, own, others in zip(pages, hashes, reversed(hashes), strict=True):
            policy = page.headers["Content-Security-Policy"]
            scripts = Policy.parse(policy).get("script-src") or ()
            assert own and own <= set(scripts) and not others & set(scripts)
            assert {"https://myblog.disqus.com", "https://c.disquscdn.com"} <= set(scripts)
            assert len(policy) < 1500  # one post's hash, not three hundred
        report = check_in_browser([*urls, result.url + "/"])
        assert [f for f in report if f.kind is Kind.CSP_VIOLATION] == []
