"""The redirects an image answers itself: rendered into nginx's maps, carried in a label,
and checked over real HTTP."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deployer.built_site import scan_built_site
from deployer.check.findings import Kind
from deployer.check.health import check_redirects
from deployer.check.http import HttpClient
from deployer.redirects import (
    Redirect,
    base_path_redirect,
    redirects_from_label,
    redirects_label,
    render_redirects_conf,
    runtime_redirects_conf,
    site_redirects,
)


def test_a_site_under_a_base_path_sends_the_root_there_with_a_302() -> None:
    assert base_path_redirect("/repo") == (Redirect("/", 302, "/repo/"),)
    assert base_path_redirect("") == ()


def test_the_maps_by_status_with_targets_encoded_and_unsafe_paths_left_out() -> None:
    conf = render_redirects_conf(
        (
            Redirect("/", 302, "/repo/"),
            Redirect("/old/关于/", 301, "/关于/"),
            Redirect('/a"b/', 301, "/x/"),
        )
    )
    assert 'map $uri $sitedeploy_found {\n    default "";\n    "/" "/repo/";\n}' in conf
    assert '    "/old/关于/" "/%E5%85%B3%E4%BA%8E/";' in conf
    assert 'a"b' not in conf


def test_the_runtime_maps_are_empty() -> None:
    assert render_redirects_conf(()).splitlines()[1:] == [
        line for line in runtime_redirects_conf().splitlines() if not line.startswith("#")
    ]


def test_the_label_round_trips() -> None:
    redirects = (Redirect("/", 302, "/repo/"), Redirect("/a/", 301, "/b/"))
    assert redirects_from_label(redirects_label(redirects)) == tuple(sorted(redirects))
    assert redirects_from_label(None) == ()


@pytest.fixture
def server() -> Iterator[str]:
    """A server that redirects `/` to /repo/ but leaves /old/ where it is."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/":
                self.send_response(302)
                self.send_header("Location", "/repo/")
            else:
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_the_check_asks_for_each_promised_redirect(server: str) -> None:
    promised = (Redirect("/", 302, "/repo/"), Redirect("/old/", 301, "/new/"))
    with ThreadPoolExecutor(2) as pool:
        found = check_redirects(HttpClient(2), pool, server, promised)
    assert [(f.kind, f.url, f.detail) for f in found] == [
        (Kind.WRONG_REDIRECT, f"{server}/old/", "answered 200 (no Location), expected 301 to /new/")
    ]


REDIRECT_PAGE = """<!DOCTYPE html>
<html lang="en-US">
  <meta charset="utf-8">
  <title>Redirecting&hellip;</title>
  <link rel="canonical" href="{to}">
  <script>location="{to}"</script>
  <meta http-equiv="refresh" content="0; url={to}">
  <meta name="robots" content="noindex">
  <h1>Redirecting&hellip;</h1>
  <a href="{to}">Click here if you are not redirected.</a>
</html>
"""


def test_jekyll_redirect_from_pages_become_301s(tmp_path: Path) -> None:
    pages = {
        "old/index.html": REDIRECT_PAGE.format(to="https://example.com/docs/new/"),
        "older.html": REDIRECT_PAGE.format(to="/docs/new/"),
        "旧/index.html": REDIRECT_PAGE.format(to="https://example.com/docs/关于/"),
        "away/index.html": REDIRECT_PAGE.format(to="https://elsewhere.org/x"),
        # A meta refresh of the site's own (no noindex, a delay): a page, not a redirect.
        "slow.html": '<meta http-equiv="refresh" content="5; url=/docs/new/">',
        "new/index.html": "<p>new</p>",
    }
    for path, html in pages.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(html)
    found = site_redirects(scan_built_site(tmp_path), "/docs", "https://example.com")
    assert found == (
        Redirect("/", 302, "/docs/"),
        Redirect("/docs/away", 301, "https://elsewhere.org/x"),
        Redirect("/docs/away/", 301, "https://elsewhere.org/x"),
        Redirect("/docs/old", 301, "/docs/new/"),
        Redirect("/docs/old/", 301, "/docs/new/"),
        Redirect("/docs/older", 301, "/docs/new/"),
        Redirect("/docs/older.html", 301, "/docs/new/"),
        Redirect("/docs/旧", 301, "/docs/关于/"),
        Redirect("/docs/旧/", 301, "/docs/关于/"),
    )
