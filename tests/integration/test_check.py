"""`sitedeploy check` finds every planted defect, with the right kind and referrer, over HTTP
against a real container, and nothing on the starter site."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from deployer.check.findings import CheckReport, Finding
from deployer.check.served import check_site
from deployer.commands.up import up
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.errors import PreviewFailed
from deployer.progress import Progress
from deployer.resources import site_template_dir
from deployer.serve.preview import stop_preview
from deployer.serve.switch import UpResult
from deployer.site import Site
from tests.conftest import SiteFactory, planted
from tests.integration.conftest import deploy
from tests.running import cli

pytestmark = pytest.mark.engine

Deployed = tuple[Site, SiteConfig, UpResult]

DEFECTS: dict[str, str | bytes | None] = {
    # The header links the page (as minima's header_pages of the starter link About).
    "_config.yml": (site_template_dir() / "_config.yml")
    .read_text()
    .replace("  - about.md\n", "  - about.md\n  - defects.html\n"),
    "defects.html": (
        "---\nlayout: default\ntitle: Defects\n---\n"
        '<p><a href="/nope.html">a dead link</a></p>\n'
        '<p><img src="/assets/missing.png" alt="missing"></p>\n'
        '<p><a href="/about/#no-such-id">a bad fragment</a></p>\n'
        '<p><a href="/loop-a/">a redirect loop</a></p>\n'
        '<link rel="stylesheet" href="/assets/missing.css">\n'
        '<link rel="stylesheet" href="/assets/fonts.css">\n'
        '<p><a href="/about/#top">fine</a> <a href="https://example.org/x">external</a></p>\n'
        '<script src="/assets/throws.js"></script>\n'
        "<script>document.title = 'inline';</script>\n"
    ),
    "assets/fonts.css": (
        "/* fonts */\n@font-face {\n  font-family: Gone;\n"
        '  src: url("/fonts/missing.woff2") format("woff2");\n}\n'
    ),
    "assets/throws.js": "throw new Error('planted failure');\n",
    "hidden.html": "---\nlayout: default\n---\n<p>No page links here.</p>\n",
    "loop-a/index.html": '<meta http-equiv="refresh" content="0; url=/loop-b/">\n',
    "loop-b/index.html": '<meta http-equiv="refresh" content="0; url=/loop-a/">\n',
}


def kinds(report: CheckReport, kind: str) -> list[Finding]:
    return [f for f in report.findings if f.kind == kind]


def line_of(result: UpResult, file: str, text: str) -> int:
    """The line of the served (built) file where `text` is: what a referrer must name."""
    lines = (result.built.root / file).read_text().splitlines()
    return next(number for number, line in enumerate(lines, start=1) if text in line)


@pytest.fixture(scope="module")
def defects(engine: Engine, make_site: SiteFactory) -> Iterator[Deployed]:
    deployed = deploy(engine, make_site("defects", DEFECTS))
    yield deployed
    stop_preview(engine, deployed[0])


@pytest.fixture(scope="module")
def checked(defects: Deployed) -> CheckReport:
    _site, _config, result = defects
    return check_site(result.url, result.built, Progress(quiet=True), browser=True)


def test_up_deploys_a_site_with_defects_and_warns(defects: Deployed) -> None:
    _site, _config, result = defects
    assert result.health.errors == []
    warned = {f.kind for f in result.health.warnings}
    assert {"broken-link", "bad-fragment", "redirect-loop", "orphan"} <= warned


def test_dead_links_missing_image_css_and_font(checked: CheckReport, defects: Deployed) -> None:
    result = defects[2]
    url = result.url
    broken = {(f.url, f.referrer) for f in kinds(checked, "broken-link")}
    page = f"{url}/defects.html"
    dead = line_of(result, "defects.html", 'href="/nope.html"')
    image = line_of(result, "defects.html", 'src="/assets/missing.png"')
    css = line_of(result, "defects.html", 'href="/assets/missing.css"')
    assert (f"{url}/nope.html", f"{page} line {dead} (a href)") in broken
    assert (f"{url}/assets/missing.png", f"{page} line {image} (img src)") in broken
    assert (f"{url}/assets/missing.css", f"{page} line {css} (link href)") in broken
    assert (f"{url}/fonts/missing.woff2", f"{url}/assets/fonts.css line 4 (css url())") in broken


def test_bad_fragment(checked: CheckReport, defects: Deployed) -> None:
    result = defects[2]
    line = line_of(result, "defects.html", "#no-such-id")
    bad = kinds(checked, "bad-fragment")
    assert [(f.url, f.referrer) for f in bad] == [
        (f"{result.url}/about/#no-such-id", f"{result.url}/defects.html line {line} (a href)")
    ]


def test_redirect_loop_and_orphan(checked: CheckReport, defects: Deployed) -> None:
    url = defects[2].url
    loops = kinds(checked, "redirect-loop")
    assert [f.url for f in loops] == [f"{url}/loop-a/"]
    assert "/loop-a/ -> /loop-b/ -> /loop-a/" in loops[0].detail
    assert [f.url for f in kinds(checked, "orphan")] == [f"{url}/hidden.html"]


def test_externals_are_listed_not_fetched(checked: CheckReport) -> None:
    assert "https://example.org/x" in {f.url for f in kinds(checked, "external")}
    assert kinds(checked, "external-broken") == []


def test_browser_finds_the_throwing_script_and_runs_the_inline_one(
    checked: CheckReport, defects: Deployed
) -> None:
    page = f"{defects[2].url}/defects.html"
    assert any(
        f.url == page and "planted failure" in f.detail for f in kinds(checked, "page-error")
    )
    # The page's policy is derived from it: its inline script runs, by its hash.
    assert kinds(checked, "csp-violation") == kinds(checked, "csp-blocked") == []
    failed = {f.url for f in kinds(checked, "failed-request")}
    assert f"{defects[2].url}/assets/missing.png" in failed
    # A missing stylesheet is a 404 page, which nosniff keeps Chromium from applying.
    console = " ".join(f.detail for f in kinds(checked, "console-error"))
    assert "Refused to apply style from" in console and "missing.css" in console
    assert checked.pages_in_browser >= 7


def test_starter_site_has_no_errors_or_warnings_even_in_a_browser(
    engine: Engine, make_site: SiteFactory
) -> None:
    site, _config, result = deploy(engine, make_site("clean"))
    report = check_site(result.url, result.built, Progress(quiet=True), browser=True)
    assert report.errors == [] and report.warnings == [], report.findings
    assert report.files_checked == len(result.built.files)
    assert report.links_checked > 40
    stop_preview(engine, site)


def test_cli_check_exits_1_and_reports_every_finding_as_json(defects: Deployed) -> None:
    site, _config, _result = defects
    run = cli("check", str(site.path), "--json", timeout=300)
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["ok"] is False and report["errors"] >= 5
    for finding in report["findings"]:
        assert set(finding) == {"kind", "severity", "url", "referrer", "detail"}
    assert "errors: broken-link" in run.stderr
    assert "from " in run.stderr  # the referrer is shown


def test_up_strict_fails_on_site_defects_and_keeps_the_old_preview(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site("strict")
    site, config, before = deploy(engine, folder)
    (folder / "dead.md").write_text("---\nlayout: page\ntitle: Dead\n---\n[gone](/gone.html)\n")
    with pytest.raises(PreviewFailed, match=r"broken-link: .*/gone\.html"):
        up(engine, site, config, Progress(quiet=True), strict=True)
    assert requests.get(before.url + "/dead.html", timeout=10).status_code == 404
    stop_preview(engine, site)


@pytest.fixture
def tampered(engine: Engine, defects: Deployed) -> Iterator[str]:
    """The site's image in a writable container, with one built file changed on disk."""
    site, _config, result = defects
    # fonts.css is too small to have been precompressed, so nginx serves these bytes.
    container, url = planted(
        engine, site, result.images.image.tag, "/srv/www/assets", {"fonts.css": b"tampered\n"}
    )
    yield url
    container.remove(force=True)


def test_check_url_finds_a_file_served_with_other_bytes(tampered: str, defects: Deployed) -> None:
    site, _config, _result = defects
    run = cli("check", str(site.path), "--url", tampered, "--json", timeout=300)
    assert run.returncode == 1
    wrong = [f for f in json.loads(run.stdout)["findings"] if f["kind"] == "wrong-bytes"]
    assert [f["url"] for f in wrong] == [f"{tampered}/assets/fonts.css"]
