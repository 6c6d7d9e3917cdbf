"""Which saves the hot loop takes, and what an edit's check reads again."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.built_site import scan_built_site
from deployer.check.served import referrers
from deployer.serve.hot import _STRUCTURAL


@pytest.mark.parametrize(
    ("path", "structural"),
    [
        ("_config.yml", True),
        ("_config.production.yaml", True),
        ("Gemfile", True),
        ("Gemfile.lock", True),
        ("sitedeploy.toml", True),
        ("package.json", True),
        ("_plugins/emoji.rb", True),
        ("_posts/2026-01-01-hello.md", False),
        ("_layouts/post.html", False),
        ("assets/main.scss", False),
        ("docs/_config.yml.md", False),
    ],
)
def test_saves_that_change_what_the_build_is_take_a_full_build(path: str, structural: bool) -> None:
    assert bool(_STRUCTURAL.match(path)) is structural


def test_pages_that_name_a_changed_page_are_read_again(tmp_path: Path) -> None:
    (tmp_path / "blog").mkdir()
    (tmp_path / "blog" / "post.html").write_text("<h1 id='x'>Post</h1>")
    (tmp_path / "index.html").write_text('<a href="/base/blog/post.html#x">post</a>')
    (tmp_path / "about").mkdir()
    (tmp_path / "about" / "index.html").write_text('<a href="/base/blog/post">pretty</a>')
    (tmp_path / "other.html").write_text('<a href="/base/">home</a>')
    built = scan_built_site(tmp_path)
    assert sorted(referrers(built, {"blog/post.html"}, "/base")) == [
        "about/index.html",
        "index.html",
    ]
