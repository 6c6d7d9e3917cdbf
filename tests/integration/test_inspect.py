"""`sitedeploy inspect`: the recipe matches the history, the SBOM matches dpkg, the labels
travel through a registry, and a rebuild with the same inputs gives the same bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from deployer.commands.inspect import verify_site
from deployer.commands.publish import publish
from deployer.config import load_config
from deployer.engine import Engine
from deployer.image.images import build_site
from deployer.progress import Progress
from deployer.provenance.inspect import inspect_image
from deployer.ship.publish import PublishSettings
from deployer.site import open_site
from tests.conftest import SiteFactory
from tests.registry import RunningRegistry, start_registry
from tests.running import cli

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def built(engine: Engine, make_site: SiteFactory) -> Iterator[Path]:
    folder = make_site("inspect")
    build_site(engine, open_site(folder), load_config(folder), Progress(quiet=True))
    yield folder


def test_history_matches_the_rendered_dockerfiles(engine: Engine, built: Path) -> None:
    found = inspect_image(engine, f"{open_site(built).repository}:latest")
    assert found.recipe, "the image has a history"
    assert all(line.matches for line in found.recipe), found.recipe
    assert {line.created_by for line in found.recipe} >= {
        "COPY /rootfs/ / # buildkit",
        "COPY /srv/www /srv/www # buildkit",
    }
    assert found.dockerfile and "FROM builder AS pack" in found.dockerfile


def test_sbom_names_nginx_and_every_library_with_dpkgs_versions(
    engine: Engine, built: Path
) -> None:
    site = open_site(built)
    found = inspect_image(engine, f"{site.repository}:latest")
    runtime = engine.client.images.get(found.labels["io.sitedeploy.runtime"])
    build_stage = next(tag for tag in runtime.tags) + "-build"
    ldd = engine.client.containers.run(
        build_stage, ["ldd", "/usr/sbin/nginx"], remove=True
    ).decode()
    loaded = {line.split()[2] for line in ldd.splitlines() if "=>" in line}
    loaded |= {line.split()[0] for line in ldd.splitlines() if line.strip().startswith("/")}
    files = {f["path"]: f for f in found.sbom["files"]}
    assert files["/usr/sbin/nginx"]["package"].startswith("nginx")
    for library in loaded:
        assert library in files, f"{library} is loaded by nginx but not in the SBOM"
    for entry in files.values():
        if entry["package"] == "sitedeploy":
            continue
        status = engine.client.containers.run(
            build_stage,
            ["dpkg-query", "-W", "--showformat=${Version}\n", entry["package"]],
            remove=True,
        ).decode()
        assert status.strip() == entry["version"], entry
    site_facts = found.sbom["site"]
    cached = build_site(engine, site, load_config(built), Progress(quiet=True)).built
    assert (site_facts["files"], site_facts["bytes"]) == (len(cached.files), cached.total_bytes)
    bases = {base["stage"]: base for base in found.bases}
    assert bases["builder"]["origin"] in {"local", "pulled", "bootstrapped"}
    if bases["builder"]["origin"] == "bootstrapped":
        assert len(bases["builder"]["rootfs_sha256"]) == 64
        assert any(p.startswith("dpkg=") for p in bases["builder"]["packages"])


def test_sbom_file_is_valid_cyclonedx(built: Path, tmp_path: Path) -> None:
    target = tmp_path / "sbom.json"
    run = cli("inspect", str(built), "--sbom", str(target))
    assert run.returncode == 0, run.stderr
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(target.read_text()) is None
    names = {c["name"] for c in json.loads(target.read_text())["components"]}
    assert {"libc6", "libpcre2-8-0", "zlib1g"} <= names


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry(tmp_path_factory.mktemp("inspect-registry"))
    yield running
    running.close()


def test_labels_survive_a_push_and_pull(
    engine: Engine, make_site: SiteFactory, registry: RunningRegistry
) -> None:
    folder = make_site("travel")
    site = open_site(folder)
    settings = PublishSettings(registry=registry.host, repository="team/travel", tags=("v1",))
    pushed = publish(engine, site, load_config(folder), Progress(quiet=True), settings)
    here = inspect_image(engine, f"{site.repository}:latest")
    for tag in engine.client.images.get(pushed.image_id).tags:
        engine.client.images.remove(tag, force=True)
    reference = f"{registry.host}/team/travel@{pushed.digest}"
    engine.client.images.pull(reference)
    run = cli("inspect", "--image", reference, "--json")
    assert run.returncode == 0, run.stderr
    there = json.loads(run.stdout)
    assert there["sbom"] == here.sbom
    assert (
        there["labels"]["io.sitedeploy.content-hash"] == here.labels["io.sitedeploy.content-hash"]
    )
    assert all(line["matches"] for line in there["recipe"])


def test_verify_reproduces_twice_and_fails_when_a_post_changes(
    engine: Engine, make_site: SiteFactory
) -> None:
    folder = make_site("verify")
    site, config = open_site(folder), load_config(folder)
    build_site(engine, site, config, Progress(quiet=True))
    for _ in range(2):
        checked = verify_site(engine, site, config, Progress(quiet=True))
        assert checked.reproduced, (checked.differences, checked.runtimes)
        # each platform's runtime, rebuilt from nothing cached, has the very same files
        assert [r["platform"] for r in checked.runtimes] == ["linux/amd64", "linux/arm64"]
        assert checked.differences == []
    post = folder / "_posts" / "2026-03-20-notes-on-the-image.md"
    post.write_text(post.read_text() + "\nA changed sentence.\n")
    run = cli("inspect", str(folder), "--verify", "--json")
    assert run.returncode == 1
    verification = json.loads(run.stdout)["verification"]
    assert not verification["same_inputs"]
    assert "changed: notes/2026/03/20/notes-on-the-image.html" in verification["differences"]
    assert "Not reproduced: the site's inputs changed" in run.stderr
