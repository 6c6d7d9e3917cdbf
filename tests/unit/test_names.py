from pathlib import Path

import pytest

from deployer.build.bases import debian_suite
from deployer.build.bootstrap import sources
from deployer.errors import SiteNotFound
from deployer.site import open_site, slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [("My Blog!", "my-blog"), ("site_template", "site-template"), ("..", "site"), ("Ünï", "n")],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_site_names_and_ids(tmp_path: Path) -> None:
    folder = tmp_path / "My Site"
    folder.mkdir()
    (folder / "_config.yml").write_text("")
    site = open_site(folder)
    assert site.name == "my-site"
    assert site.repository == "sitedeploy/my-site"
    assert site.builder_repository == "sitedeploy/my-site-builder"
    assert len(site.id) == 12
    assert site.container_name == f"sitedeploy-my-site-{site.id[:6]}"
    assert open_site(folder).id == site.id
    assert open_site(folder, name="blog").repository == "sitedeploy/blog"


def test_a_folder_without_config_is_not_a_site(tmp_path: Path) -> None:
    with pytest.raises(SiteNotFound, match=r"has no _config\.yml"):
        open_site(tmp_path)
    with pytest.raises(SiteNotFound, match="is not a folder"):
        open_site(tmp_path / "missing")


@pytest.mark.parametrize(
    ("reference", "suite"),
    [
        ("debian:bookworm-slim", "bookworm"),
        ("debian:bookworm", "bookworm"),
        ("debian:12-slim", "bookworm"),
        ("debian:12.5", "bookworm"),
        ("docker.io/library/debian:trixie-20260101-slim", "trixie"),
        ("ruby:3.3", None),
        ("example.com/debian:bookworm", None),
    ],
)
def test_debian_suite(reference: str, suite: str | None) -> None:
    assert debian_suite(reference) == suite


def test_bootstrap_sources() -> None:
    assert sources("bookworm", "http://deb.debian.org/debian") == [
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    ]
    assert sources("sid", "http://mirror/debian") == ["deb http://mirror/debian sid main"]
