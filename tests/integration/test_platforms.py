"""One image for amd64 and arm64, published to Debian's docker-registry as one OCI index,
read by Debian's skopeo, and the arm64 image run on this amd64 machine under Debian's
qemu-user-static (binfmt_misc, fix-binary: `scripts/setup --tests` registers it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from deployer.commands.publish import publish
from deployer.config import load_config
from deployer.engine import Engine
from deployer.progress import Progress
from deployer.provenance.inspect import inspect_image, write_sbom
from deployer.ship.publish import PublishResult, PublishSettings
from deployer.site import open_site
from deployer.waiting import wait_until
from tests.conftest import SiteFactory, free_port
from tests.registry import RunningRegistry, start_registry
from tests.running import cli

pytestmark = pytest.mark.engine

BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
PAGES = {
    "_config.yml": "title: Both CPUs\nbaseurl: /project\n",
    "index.html": "---\n---\n<!doctype html><title>Home</title><a href='{{ site.baseurl }}/"
    "notes/'>notes</a><script type=module src='{{ site.baseurl }}/app.mjs'></script>\n",
    "notes/index.html": "---\n---\n<!doctype html><title>Notes</title><p>"
    + "stable bytes " * 400
    + "</p>\n",
    "app.mjs": "export const answer = 42;\n",
    "文档/索引.html": "<!doctype html><title>CJK</title><p>你好</p>\n",
}
# Headers that differ between any two responses (the clock, the connection).
VARYING = {"date", "connection", "keep-alive"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry(tmp_path_factory.mktemp("registry-platforms"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def published(
    engine: Engine, make_site: SiteFactory, registry: RunningRegistry
) -> tuple[Path, PublishResult]:
    folder = make_site("platforms", dict(PAGES))
    settings = PublishSettings(registry=registry.host, repository="team/both", tags=("v1",))
    config = load_config(folder)  # no [publish] platforms: both CPUs, the default
    result = publish(engine, open_site(folder), config, Progress(quiet=True), settings)
    return folder, result


def _skopeo_raw(reference: str) -> dict[str, Any]:
    out = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def test_one_index_names_both_platforms_and_they_share_the_site_layers(
    published: tuple[Path, PublishResult], registry: RunningRegistry
) -> None:
    _, result = published
    index = _skopeo_raw(f"{registry.host}/team/both:v1")
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    entries = index["manifests"]
    assert isinstance(entries, list)
    assert [(e["platform"]["os"], e["platform"]["architecture"]) for e in entries] == [
        ("linux", "amd64"),
        ("linux", "arm64"),
    ]
    assert [e["digest"] for e in entries] == [image.digest for image in result.platforms]
    amd64, arm64 = (_skopeo_raw(f"{registry.host}/team/both@{e['digest']}") for e in entries)
    layers = [[layer["digest"] for layer in m["layers"]] for m in (amd64, arm64)]
    assert layers[0][1:] == layers[1][1:] and len(layers[0]) >= 3  # the site's: the same blobs
    assert layers[0][0] != layers[1][0]  # each CPU's own runtime
    config = json.loads(
        subprocess.run(
            ["skopeo", "inspect", "--config", "--raw", "--tls-verify=false",
             f"docker://{registry.host}/team/both@{entries[1]['digest']}"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
    )  # fmt: skip
    assert (config["architecture"], config["variant"]) == ("arm64", "v8")
    labels = config["config"]["Labels"]
    assert labels["io.sitedeploy.platform"] == "linux/arm64"
    packages = labels["io.sitedeploy.sbom.packages"]
    assert "libc6=" in packages and "nginx=" in packages
    files = {row[0]: row for row in json.loads(labels["io.sitedeploy.sbom.files"])}
    assert "/lib/aarch64-linux-gnu/libc.so.6" in files
    assert not any("x86_64" in path for path in files)


def _serve(engine: Engine, image_id: str) -> tuple[str, str]:
    """Run the image on a loopback port; (container id, base URL) once it is healthy."""
    port = free_port()
    container = engine.client.containers.run(
        image_id, detach=True, ports={"8080/tcp": ("127.0.0.1", port)}, read_only=True,
        tmpfs={"/tmp": ""},
    )  # fmt: skip

    def healthy() -> bool:
        container.reload()
        return bool(container.attrs["State"].get("Health", {}).get("Status") == "healthy")

    wait_until(120, healthy, f"container {container.short_id} to be healthy", every=0.5)
    return str(container.id), f"http://127.0.0.1:{port}"


def _answers(base: str, paths: list[str]) -> dict[str, tuple[int, dict[str, str], bytes]]:
    answers = {}
    for path in paths:
        response = requests.get(
            f"{base}{path}", headers={"Accept-Encoding": "br, gzip"}, timeout=30,
            allow_redirects=False,
        )  # fmt: skip
        headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in VARYING}
        answers[path] = (response.status_code, headers, response.content)
    return answers


def test_the_arm64_nginx_checks_its_config_and_serves_a_page_under_qemu_without_binfmt(
    engine: Engine,
    published: tuple[Path, PublishResult],
    registry: RunningRegistry,
    tmp_path: Path,
) -> None:
    """Proves the arm64 files run without binfmt_misc: the image's root filesystem,
    exported, with nginx run by qemu-aarch64-static named explicitly in a chroot of it
    (`-L ROOT` alone is not enough: nginx opens its files relative to "/", which qemu does
    not redirect). The next test runs the image itself, through binfmt_misc."""
    _, result = published
    arm64 = next(image for image in result.platforms if image.platform == "linux/arm64")
    pulled = engine.client.images.pull(
        f"{registry.host}/team/both", tag=arm64.digest, platform="linux/arm64"
    )
    root = tmp_path / "root"
    root.mkdir()
    container = engine.client.containers.create(str(pulled.id), command=["/nonexistent"])
    try:
        with (tmp_path / "root.tar").open("wb") as handle:
            for chunk in container.export():
                handle.write(chunk)  # type: ignore[arg-type]  # bytes; docker-py says str
    finally:
        container.remove(force=True)
    subprocess.run(["tar", "-xf", str(tmp_path / "root.tar"), "-C", str(root)], check=True)
    shutil.copy("/usr/bin/qemu-aarch64-static", root / "qemu-aarch64-static")
    nginx = ["chroot", str(root), "/qemu-aarch64-static", "/usr/sbin/nginx", "-e", "stderr"]
    tested = subprocess.run([*nginx, "-t"], capture_output=True, text=True, timeout=60, check=False)
    assert tested.returncode == 0 and "test is successful" in tested.stderr, tested.stderr
    port = free_port()
    conf = root / "etc/nginx/nginx.conf"
    conf.write_text(conf.read_text().replace("listen 8080", f"listen 127.0.0.1:{port}"))
    server = subprocess.Popen(
        [*nginx, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:

        def page() -> requests.Response | None:
            try:
                return requests.get(f"http://127.0.0.1:{port}/project/notes/", timeout=5)
            except requests.ConnectionError:
                return None

        response = wait_until(60, page, "the arm64 nginx to answer under qemu")
        assert response.status_code == 200 and "stable bytes" in response.text
    finally:
        server.terminate()
        server.wait(timeout=30)
        engine.client.images.remove(str(pulled.id), force=True)


@pytest.mark.skipif(not BINFMT.exists(), reason="qemu-aarch64 is not registered (binfmt_misc)")
def test_the_arm64_image_serves_every_page_as_the_amd64_image_does(
    engine: Engine,
    published: tuple[Path, PublishResult],
    registry: RunningRegistry,
    tmp_path: Path,
) -> None:
    _, result = published
    reference = f"{registry.host}/team/both@{result.digest}"
    assert result.images is not None
    paths = ["/", "/project/", "/project/nothing-here"]
    paths += [f"/project/{f.path}" for f in result.images.built.files]
    # A local name stands for one image: the plain pull by the index's digest, then the
    # arm64 pull by tag (which then names the arm64 image here).
    amd64 = engine.client.images.pull(reference)  # a plain pull on amd64 gets amd64
    assert amd64.attrs["Architecture"] == "amd64"
    assert amd64.id == result.image_id  # the very image built here
    arm64 = engine.client.images.pull(f"{registry.host}/team/both:v1", platform="linux/arm64")
    assert arm64.attrs["Architecture"] == "arm64"
    found = inspect_image(engine, str(arm64.id))  # what `inspect --platform linux/arm64` reads
    assert found.recipe and all(line.matches for line in found.recipe)
    write_sbom(found, tmp_path / "arm64.cdx.json")
    purls = [
        c.get("purl", "")
        for c in json.loads((tmp_path / "arm64.cdx.json").read_text())["components"]
    ]
    assert any(p.startswith("pkg:deb/debian/libc6@") and "arch=arm64" in p for p in purls)
    started = []
    try:
        for image in (arm64, amd64):
            container, base = _serve(engine, str(image.id))
            started.append(container)
            served = _answers(base, paths)
            if image is arm64:
                on_arm64 = served
        assert served.keys() == on_arm64.keys() and len(served) >= 6
        for path, answer in served.items():
            assert on_arm64[path] == answer, path
        assert served["/project/app.mjs"][1]["content-type"].startswith("text/javascript")
        version = engine.client.containers.get(started[0]).exec_run(["/usr/sbin/nginx", "-V"])
        assert version.exit_code == 0 and b"nginx version" in version.output
    finally:
        for container in started:
            engine.client.containers.get(container).remove(force=True)
        engine.client.images.remove(str(arm64.id), force=True)


def test_arm64_alone_through_the_cli_then_inspected_for_that_cpu(
    published: tuple[Path, PublishResult], registry: RunningRegistry, engine: Engine
) -> None:
    folder, _ = published
    run = cli(
        "publish", str(folder), "--registry", registry.host, "--repository", "team/armonly",
        "--tag", "v1", "--platform", "linux/arm64", "--json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert [p["platform"] for p in report["platforms"]] == ["linux/arm64"]
    index = _skopeo_raw(f"{registry.host}/team/armonly:v1")
    assert [e["platform"]["architecture"] for e in index["manifests"]] == ["arm64"]
    assert index["manifests"][0]["digest"] == report["platforms"][0]["digest"]
    # Nothing here answers to the amd64 manifest the engine pushed first: it is in no index.
    names = engine.client.images.get(report["image_id"]).attrs.get("RepoDigests") or []
    assert not any(name.startswith(f"{registry.host}/team/armonly@") for name in names)

    reference = f"{registry.host}/team/armonly@{report['digest']}"
    seen = cli("inspect", "--image", reference, "--platform", "linux/arm64", "--json")
    assert seen.returncode == 0, seen.stderr
    inspected = json.loads(seen.stdout)
    assert inspected["image"] == f"{reference} (linux/arm64)"
    assert inspected["labels"]["io.sitedeploy.platform"] == "linux/arm64"
    assert all(line["matches"] for line in inspected["recipe"])
    engine.client.images.remove(inspected["image_id"], force=True)
