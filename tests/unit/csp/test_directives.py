"""What a Content-Security-Policy allows, as CSP Level 3 and Chromium decide it."""

from __future__ import annotations

import pytest

from deployer.csp.directives import Policy, is_source, source_matches

PAGE = "http://127.0.0.1:8080/blog/index.html"
STRICT = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; font-src 'self' data:; object-src 'none'; form-action 'self'"
)


def test_a_policy_reads_back_as_written_and_keeps_the_first_of_a_repeated_directive() -> None:
    policy = Policy.parse(STRICT + "; script-src *")
    assert str(policy) == STRICT
    assert policy.get("script-src") == ("'self'",)


@pytest.mark.parametrize(
    ("directive", "url", "allowed"),
    [
        ("script-src-elem", "/assets/app.js", True),
        ("script-src-elem", "https://cdn.example.com/app.js", False),
        ("img-src", "https://cdn.example.com/a.png", True),  # https:
        ("img-src", "http://cdn.example.com/a.png", False),
        ("img-src", "data:", True),
        ("frame-src", "https://www.youtube.com/embed/x", False),  # falls back to default-src
        ("frame-src", "/embed.html", True),
        ("form-action", "https://formspree.io/f/x", False),
        ("connect-src", "/api", True),  # default-src 'self'
        ("base-uri", "https://elsewhere.example/", True),  # not named, no fallback
        ("object-src", "/movie.swf", False),  # 'none'
    ],
)
def test_urls_by_directive_with_fallback(directive: str, url: str, allowed: bool) -> None:
    absolute = url if "://" in url or url.endswith(":") else "http://127.0.0.1:8080" + url
    assert Policy.parse(STRICT).allows_url(directive, absolute, PAGE) is allowed


@pytest.mark.parametrize(
    ("source", "url", "matches"),
    [
        ("https://cdn.example.com", "https://cdn.example.com/x.js", True),
        ("https://cdn.example.com", "http://cdn.example.com/x.js", False),
        ("http://cdn.example.com", "https://cdn.example.com/x.js", True),  # upgrade
        ("cdn.example.com", "http://cdn.example.com/x.js", True),  # the page's scheme
        ("cdn.example.com", "https://cdn.example.com/x.js", True),
        ("cdn.example.com", "https://cdn.example.com:8443/x.js", False),
        ("cdn.example.com:*", "https://cdn.example.com:8443/x.js", True),
        ("https://*.example.com", "https://a.b.example.com/x", True),
        ("https://*.example.com", "https://example.com/x", False),
        ("https://example.com/js/", "https://example.com/js/app.js", True),
        ("https://example.com/js/app.js", "https://example.com/js/other.js", False),
        ("'self'", "http://127.0.0.1:8080/x.js", True),
        ("'self'", "http://127.0.0.1:9090/x.js", False),
        ("'self'", "https://127.0.0.1/x.js", True),  # upgrade of the page's origin
        ("https:", "https://anything.example/", True),
        ("*", "https://anything.example/", True),
        ("*", "data:", False),
    ],
)
def test_source_expressions(source: str, url: str, matches: bool) -> None:
    assert source_matches(source, url, "http://127.0.0.1:8080/") is matches


def test_inline_content_runs_by_hash_and_hashes_switch_unsafe_inline_off() -> None:
    hashed = Policy.parse("script-src 'self' 'unsafe-inline' 'sha256-abc='")
    assert hashed.allows_inline("script-src-elem", "sha256-abc=")
    assert not hashed.allows_inline("script-src-elem", "sha256-other=")
    # Event handlers need 'unsafe-hashes' besides their hash.
    assert not hashed.allows_inline("script-src-attr", "sha256-abc=")
    with_hashes = Policy.parse("script-src 'self' 'unsafe-hashes' 'sha256-abc='")
    assert with_hashes.allows_inline("script-src-attr", "sha256-abc=")
    # A javascript: URL (no digest) runs only under a plain 'unsafe-inline'.
    assert not with_hashes.allows_inline("script-src-elem", None)
    assert Policy.parse("script-src 'unsafe-inline'").allows_inline("script-src-elem", None)
    assert Policy.parse(STRICT).allows_inline("style-src-attr", "sha256-any=")
    assert Policy.parse("img-src 'self'").allows_inline("script-src-elem", None)  # unrestricted


def test_adding_a_source_starts_from_what_the_fallback_allowed() -> None:
    policy = Policy.parse("default-src 'self'; object-src 'none'")
    framed = policy.adding("frame-src", ["https://www.youtube.com"])
    assert framed.get("frame-src") == ("'self'", "https://www.youtube.com")
    assert framed.adding("object-src", ["https://a.example"]).get("object-src") == (
        "https://a.example",
    )


@pytest.mark.parametrize(
    ("source", "valid"),
    [
        ("https://cdn.example.com", True),
        ("'sha256-AbC+/=='", True),
        ("'unsafe-hashes'", True),
        ("data:", True),
        ("*.example.com", True),
        ("https://", False),
        ("'nonsense'", False),
    ],
)
def test_what_a_policy_can_hold(source: str, valid: bool) -> None:
    assert is_source(source) is valid
