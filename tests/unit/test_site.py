from pathlib import Path

import pytest

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
