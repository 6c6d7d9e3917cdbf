from pathlib import Path

from deployer.labels import (
    BaseStage,
    Label,
    Role,
    base,
    content_tag,
    runtime_companion,
    runtime_tag,
)
from deployer.site import builder_tag, image_tag, latest_tag, open_site, site_filter


def test_labels_are_plain_strings_under_our_prefix_or_the_oci_spec() -> None:
    assert all(
        str(label).startswith(("io.sitedeploy.", "org.opencontainers.image.")) for label in Label
    )
    assert {Label.SITE_ID: "x"} == {"io.sitedeploy.site-id": "x"}
    assert base(BaseStage.NGINX) == "io.sitedeploy.nginx-base"
    assert base(BaseStage.BUILDER, "suite") == "io.sitedeploy.builder-base.suite"


def test_tag_rules(tmp_path: Path) -> None:
    folder = tmp_path / "blog"
    folder.mkdir()
    (folder / "_config.yml").write_text("")
    site = open_site(folder)
    content = "ab" * 32
    assert content_tag(content) == "abababababab"
    assert image_tag(site, content_tag(content)) == "sitedeploy/blog:abababababab"
    assert builder_tag(site, "verify-1") == "sitedeploy/blog-builder:verify-1"
    assert latest_tag(site) == "sitedeploy/blog:latest"
    runtime = runtime_tag("cd" * 32)
    assert runtime == "sitedeploy/nginx-runtime:cdcdcdcdcdcd"
    assert runtime_companion(runtime, Role.RUNTIME_TOOLS) == f"{runtime}-tools"
    assert runtime_companion(runtime, Role.RUNTIME_BUILD) == f"{runtime}-build"
    assert site_filter(site, Role.FRONT) == {
        "label": [f"io.sitedeploy.site-id={site.id}", "io.sitedeploy.role=front"]
    }
