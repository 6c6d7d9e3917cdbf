from dataclasses import replace
from pathlib import Path

from rich.console import Console

from deployer.built_site import BuiltFile, BuiltSite
from deployer.check.findings import CheckReport, Finding, Kind
from deployer.cli.report import (
    build_summary,
    show_build,
    show_check,
    show_up,
    status_text,
    up_summary,
)
from deployer.engine import ImageInfo, Layer
from deployer.image.bases import BaseImage, Origin
from deployer.image.images import SiteImages
from deployer.progress import Progress
from deployer.provenance.sbom import BuiltGem
from deployer.serve.preview import PreviewStatus
from deployer.serve.switch import UpResult
from deployer.site import Site

_ID1, _ID2, _ID3 = ("sha256:" + digit * 64 for digit in "123")


def _progress() -> Progress:
    progress = Progress()
    progress.console = Console(record=True, width=200, color_system=None)
    return progress


def _images(tmp_path: Path) -> SiteImages:
    built = BuiltSite(tmp_path, (BuiltFile("index.html", 6_000, "a" * 64),))
    base = BaseImage(
        "debian:bookworm-slim", "sitedeploy/debian:bookworm", "sha256:b", Origin.BOOTSTRAPPED
    )
    return SiteImages(
        image=ImageInfo("sitedeploy/blog:0123456789ab", _ID1, _ID1, 10_000_000, 5),
        builder=ImageInfo("sitedeploy/blog-builder:0123456789ab", _ID2, _ID2, 250_000_000, 9),
        runtime=ImageInfo("sitedeploy/nginx-runtime:c", _ID3, _ID3, 9_900_000, 3),
        bases=(base, base),
        content_hash="0123456789ab" + "0" * 52,
        built=built,
        baseurl="",
        site_url="",
        dockerfile="FROM scratch",
        builder_name="BuildKit (docker CLI)",
        reused=False,
        seconds=3.21,
        warnings=("Jekyll: Build Warning: Layout 'x' does not exist.",),
        layers=(
            Layer("COPY /rootfs/ / # buildkit", 9_800_000),
            Layer("COPY /srv/www /srv/www", 100_000),
        ),
    )


def _up(tmp_path: Path) -> UpResult:
    health = CheckReport(url="http://127.0.0.1:8080", files_checked=1, links_checked=4)
    health.findings = [
        Finding(Kind.ORPHAN, "http://127.0.0.1:8080/lonely.html", "no page of the site links here")
    ]
    return UpResult(
        _images(tmp_path),
        health,
        "sitedeploy-blog-abc123",
        "sitedeploy-blog-abc123-f00",
        "http://127.0.0.1:8080",
        True,
        0.25,
    )


def test_build_summary_is_plain_data(tmp_path: Path) -> None:
    summary = build_summary(_images(tmp_path))
    assert summary["size_ratio"] == 0.04
    assert summary["site_bytes"] == 6_000
    assert summary["overhead_bytes"] == 10_000_000 - 6_000
    assert summary["site_layer_bytes"] == 100_000
    assert summary["bases"][0]["origin"] == "bootstrapped"
    assert summary["layers"][-1] == {"created_by": "COPY /srv/www /srv/www", "size": 100_000}


def test_up_summary_lists_build_and_check_warnings(tmp_path: Path) -> None:
    summary = up_summary(_up(tmp_path), edit_to_served=1.234)
    assert [w["kind"] for w in summary["warnings"]] == ["build", "orphan"]
    assert summary["failures"] == []
    assert summary["switch_seconds"] == 0.25
    assert summary["edit_to_served_seconds"] == 1.23


def test_show_build_and_up(tmp_path: Path) -> None:
    progress = _progress()
    show_build(progress, _images(tmp_path), show_layers=True)
    text = progress.console.export_text()
    assert "nginx (final)   sitedeploy/blog:0123456789ab" in text
    assert "10,000,000" in text and "250,000,000" in text
    assert "The final image is 4.0% of the builder's size (25 times smaller)" in text
    assert "built with BuildKit (docker CLI)" in text
    assert "COPY /srv/www /srv/www" in text

    progress = _progress()
    show_up(progress, _up(tmp_path), edit_to_served=2.5)
    text = progress.console.export_text()
    assert "warning: Jekyll: Build Warning: Layout 'x' does not exist." in text
    assert "warning: orphan: http://127.0.0.1:8080/lonely.html: no page of the site links" in text
    assert "Checked 1 files and 4 links over HTTP in 0.0 s: 0 failures, 2 warnings." in text
    assert "Moved http://127.0.0.1:8080 to the new container in 0.25 s" in text
    assert "Preview: http://127.0.0.1:8080  (served by sitedeploy-blog-abc123-f00)" in text
    assert "Serving the change 2.5 s after it was saved." in text


def test_a_hot_edit_shows_its_own_check_not_the_build_again(tmp_path: Path) -> None:
    progress = _progress()
    show_up(progress, replace(_up(tmp_path), hot_edits=3), edit_to_served=0.8)
    text = progress.console.export_text()
    assert "Layout 'x' does not exist" not in text  # said at the full build
    assert "warning: orphan: http://127.0.0.1:8080/lonely.html" in text
    assert "Edit layer 3: sitedeploy/blog:0123456789ab." in text
    assert "built with BuildKit" not in text and "builder (Ruby)" not in text
    assert "Checked 1 files and 4 links over HTTP in 0.0 s: 0 failures, 1 warnings." in text


def test_show_check_groups_by_kind_errors_first() -> None:
    report = CheckReport(url="http://h", files_checked=2, links_checked=3)
    report.findings = [
        Finding(Kind.ORPHAN, "http://h/o.html", "no page of the site links here"),
        Finding(Kind.BROKEN_LINK, "http://h/a", "status 404", "http://h/ line 2 (a href)"),
        Finding(Kind.BROKEN_LINK, "http://h/b", "status 404", "http://h/ line 3 (a href)"),
    ]
    progress = _progress()
    show_check(progress, report, limit=1)
    lines = progress.console.export_text().splitlines()
    assert lines[0] == "errors: broken-link (2)"
    assert lines[1:4] == [
        "  http://h/a: status 404",
        "      from http://h/ line 2 (a href)",
        "  … and 1 more (all of them with --json)",
    ]
    assert lines[4] == "warnings: orphan (1)"
    assert lines[-1].endswith(": 2 errors, 1 warnings, 0 external links not fetched.")


def test_status_text(tmp_path: Path) -> None:
    site = Site(tmp_path, "blog")
    assert status_text(site, PreviewStatus(None, "absent", None, None, None, None)) == (
        f"No preview of {tmp_path}. Start one with: sitedeploy up {tmp_path}"
    )
    running = PreviewStatus("front", "running", "healthy", "srv", "img:1", "http://h:1", True)
    assert status_text(site, running).splitlines() == [
        "front: running, image health check: healthy",
        "  url:    http://h:1 (answering)",
        "  server: srv",
        "  image:  img:1",
    ]


def test_the_gems_a_build_used_are_counted_by_origin(tmp_path: Path) -> None:
    gems = (
        BuiltGem("jekyll", "4.3.1", "debian"),
        BuiltGem("jekyll-feed", "0.17.0", "debian"),
        BuiltGem("jekyll-sdtest-hello", "0.1.0", "http://127.0.0.1:9292/"),
    )
    images = replace(_images(tmp_path), gems_used=gems)
    progress = _progress()
    show_build(progress, images)
    text = progress.console.export_text()
    assert "Gems (debian): 3 — 2 from Debian's packages, 1 from http://127.0.0.1:9292/." in text
    used = build_summary(images)["gems"]["used"]
    assert used[2] == {
        "name": "jekyll-sdtest-hello",
        "version": "0.1.0",
        "origin": "http://127.0.0.1:9292/",
    }
