"""sitedeploy on the engines people run, each a real engine beside the machine's own.

The newest engine with the containerd image store (the default since Docker Engine 29)
gets the whole path — up, check, inspect --verify, publish for two CPUs, up --watch, a
swarm deploy; the other engines and stores a smoke path: `up` of the starter, built there
from nothing but the Debian base. Podman 4 and 5 (their Docker API, the classic builder)
get up and a switch, check, inspect, publish, and what they cannot do. On every one, what
the report says must be what the machine's own engine (20.10, classic store) says of the
same site: the same content tag, the same image size, the same size per layer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from deployer.engine import Engine
from deployer.waiting import wait_until
from tests.conftest import SiteFactory, free_port
from tests.engines.conftest import On, started
from tests.engines.extra import PODMAN_REGISTRY, ExtraEngine, joined
from tests.registry import RunningRegistry, start_registry
from tests.running import Running, cli

pytestmark = pytest.mark.engine


def _built_here(folder: Path) -> dict[str, Any]:
    """The machine's own engine's report of the same site."""
    built = cli("build", str(folder), "--json")
    assert built.returncode == 0, built.stderr
    return dict(json.loads(built.stdout))


def _cpus(registry: RunningRegistry, repository: str, digest: str) -> list[str]:
    """The CPUs of the OCI index `digest` names in `registry`."""
    index = requests.get(
        f"{registry.url}/v2/{repository}/manifests/{digest}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"}, timeout=10,
    ).json()  # fmt: skip
    return sorted(m["platform"]["architecture"] for m in index["manifests"])


def _same_report(there: dict[str, Any], here: dict[str, Any]) -> None:
    assert there["image"] == here["image"]  # the content tag: same inputs, same tag
    assert there["image_size"] == here["image_size"]  # the bytes of its files
    assert [layer["size"] for layer in there["layers"]] == [
        layer["size"] for layer in here["layers"]
    ]
    assert there["site_bytes"] == here["site_bytes"]


@pytest.mark.parametrize(
    ("name", "containerd", "subnet"),
    [("docker-28", False, 29), ("docker-26", True, 26), ("docker-26", False, 27)],
)
def test_up_on_every_engine_reports_what_the_classic_store_does(
    engine: Engine, make_site: SiteFactory, name: str, containerd: bool, subnet: int
) -> None:
    with started(ExtraEngine(name, containerd, subnet), engine) as on:
        folder = make_site(f"smoke-{subnet}")
        port = free_port()
        up = on.cli("up", str(folder), "--port", str(port), "--json", "-v")
        assert up.returncode == 0, up.stderr
        store = "containerd image store" if containerd else "classic image store"
        version = name.removeprefix("docker-")
        assert re.search(rf"Engine: Docker Engine {version}\.\S+ \(API [\d.]+\), amd64, {store}",
                         up.stderr), up.stderr  # fmt: skip
        there = json.loads(up.stdout)
        assert there["failures"] == []
        with joined(on.extra):
            page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text
        _same_report(there, _built_here(folder))


# -- the whole path on Docker Engine 28 with the containerd image store ---------------


@pytest.fixture(scope="module")
def containerd28(engine: Engine) -> Iterator[On]:
    with started(ExtraEngine("docker-28", True, 28), engine) as on:
        yield on


@pytest.fixture(scope="module")
def registry28(
    containerd28: On, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRegistry]:
    """A registry inside the engine's namespace (the engine pushes to 127.0.0.1 there)."""
    with joined(containerd28.extra):
        running = start_registry(tmp_path_factory.mktemp("registry-28"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def site28(containerd28: On, make_site: SiteFactory) -> Iterator[tuple[Path, str]]:
    folder = make_site("containerd28")
    port = free_port()
    up = containerd28.cli("up", str(folder), "--port", str(port), "--json", "-v")
    assert up.returncode == 0, up.stderr
    assert "containerd image store (overlayfs), BuildKit" in up.stderr
    report = json.loads(up.stdout)
    assert report["failures"] == []
    yield folder, report["url"]
    containerd28.cli("down", str(folder))


def test_up_check_and_sizes_on_the_containerd_store(
    containerd28: On, site28: tuple[Path, str]
) -> None:
    folder, url = site28
    report = containerd28.cli("report", str(folder), "--json")
    assert report.returncode == 0, report.stderr
    there = json.loads(report.stdout)
    _same_report(there, _built_here(folder))
    # the engine's own Size is the compressed content; sitedeploy's is the files' bytes
    image = containerd28.extra.client().images.get(there["image"])
    assert image.attrs["Size"] < there["image_size"]
    check = containerd28.cli("check", str(folder), "--json")
    assert check.returncode == 0, check.stderr
    checked = json.loads(check.stdout)
    assert checked["ok"]
    assert [f for f in checked["findings"] if f["severity"] != "info"] == []
    with joined(containerd28.extra):
        assert requests.get(url, timeout=10).status_code == 200


def test_inspect_and_verify_on_the_containerd_store(
    containerd28: On, site28: tuple[Path, str]
) -> None:
    folder, _ = site28
    inspected = containerd28.cli("inspect", str(folder), "--verify", "--json", timeout=1200)
    assert inspected.returncode == 0, inspected.stderr
    found = json.loads(inspected.stdout)
    assert all(line["matches"] for line in found["recipe"] if line["instruction"]), found["recipe"]
    assert any(p.startswith("nginx=") for p in found["sbom"]["packages"]), found["sbom"]
    verification = found["verification"]
    assert verification["reproduced"] and verification["differences"] == [], verification
    assert [r["platform"] for r in verification["runtimes"]] == ["linux/amd64", "linux/arm64"]


def test_publish_for_two_cpus_from_the_containerd_store(
    containerd28: On, site28: tuple[Path, str], registry28: RunningRegistry
) -> None:
    folder, _ = site28
    published = containerd28.cli(
        "publish", str(folder), "--registry", registry28.host, "--repository", "team/e28",
        "--json", timeout=1200,
    )  # fmt: skip
    assert published.returncode == 0, published.stderr
    with joined(containerd28.extra):
        assert _cpus(registry28, "team/e28", json.loads(published.stdout)["digest"]) == [
            "amd64", "arm64",
        ]  # fmt: skip


def test_watch_on_the_containerd_store(containerd28: On, make_site: SiteFactory) -> None:
    folder = make_site("watch28")
    port = free_port()
    with joined(containerd28.extra):
        run = Running("up", str(folder), "--port", str(port), "--watch", env=containerd28.env)
    try:
        run.wait_for("Watching")
        about = folder / "about.md"
        about.write_text(about.read_text() + "\nWATCHED-ON-28\n")

        def served() -> bool:
            with joined(containerd28.extra):
                page = requests.get(f"http://127.0.0.1:{port}/about/", timeout=10)
            return "WATCHED-ON-28" in page.text

        wait_until(60, served, "the edit served by the watched preview")
    finally:
        assert run.interrupt() in (0, 130), "".join(run.output)
    containerd28.cli("down", str(folder))


def test_swarm_deploy_on_the_containerd_store(
    containerd28: On, site28: tuple[Path, str], registry28: RunningRegistry
) -> None:
    folder, _ = site28
    client = containerd28.extra.client()
    client.swarm.init(advertise_addr="127.0.0.1")
    port = free_port()
    deployed = containerd28.cli(
        "deploy", str(folder), "--to", "swarm", "--replicas", "1", "--port", str(port),
        "--registry", registry28.host, "--repository", "team/swarm28", "--json", timeout=1200,
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr
    assert json.loads(deployed.stdout)["replicas"] == {"desired": 1, "running": 1}
    with joined(containerd28.extra):
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    removed = containerd28.cli("remove", str(folder), "--to", "swarm")
    assert removed.returncode == 0, removed.stderr


# -- Podman 4.3 (Debian bookworm) and 5.4 (trixie), their Docker API, the classic builder --


@pytest.fixture(scope="module", params=[("podman-4", 40), ("podman-5", 50)], ids=lambda p: p[0])
def podman(request: pytest.FixtureRequest, engine: Engine) -> Iterator[On]:
    name, subnet = request.param
    with started(ExtraEngine(name, False, subnet), engine) as on:
        yield on


def _podman_version(on: On) -> str:
    return str(on.extra.client().version()["Version"])


def test_up_check_inspect_and_publish_on_podman(
    podman: On, make_site: SiteFactory, tmp_path: Path
) -> None:
    folder = make_site("podman")
    port = free_port()
    up = podman.cli("up", str(folder), "--port", str(port), "--json", "-v")
    assert up.returncode == 0, up.stderr
    version = re.escape(_podman_version(podman))
    assert re.search(rf"Engine: Podman {version} \(API \d\.\d+\), amd64, containers-storage "
                     r"\(overlay\), classic builds only", up.stderr), up.stderr  # fmt: skip
    there = json.loads(up.stdout)
    assert there["failures"] == [] and there["build_engine"].startswith("classic")
    # the same site built classic by the machine's engine: same tag, same bytes
    here = cli("build", str(folder), "--engine", "classic", "--json")
    assert here.returncode == 0, here.stderr
    assert there["image"] == json.loads(here.stdout)["image"]
    assert there["image_size"] == json.loads(here.stdout)["image_size"]
    with joined(podman.extra):
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    # A change: a server in the other socket slot, the front switched to it.
    about = folder / "about.md"
    about.write_text(about.read_text() + "\nChanged on Podman.\n")
    again = podman.cli("up", str(folder), "--port", str(port), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["server"] != there["server"]
    with joined(podman.extra):
        page = requests.get(f"http://127.0.0.1:{port}/about/", timeout=10)
        assert "Changed on Podman." in page.text

    check = podman.cli("check", str(folder), "--json")
    assert check.returncode == 0, check.stderr
    inspected = podman.cli("inspect", str(folder), "--json")
    assert inspected.returncode == 0, inspected.stderr
    found = json.loads(inspected.stdout)
    assert all(line["matches"] for line in found["recipe"] if line["instruction"]), found["recipe"]
    assert any(p.startswith("nginx=") for p in found["sbom"]["packages"]), found["sbom"]

    with joined(podman.extra):  # plain HTTP: registries.conf lists it insecure
        registry = start_registry(tmp_path / "registry", port=int(PODMAN_REGISTRY.split(":")[1]))
    try:
        published = podman.cli(
            "publish", str(folder), "--registry", registry.host, "--repository", "team/pod",
            "--json", timeout=1200,
        )  # fmt: skip
        assert published.returncode == 0, published.stderr
        digest = json.loads(published.stdout)["digest"]
        with joined(podman.extra):
            assert _cpus(registry, "team/pod", digest) == ["amd64", "arm64"]
    finally:
        registry.close()
    podman.cli("down", str(folder))


def test_what_podman_cannot_do_is_one_clear_message(podman: On, make_site: SiteFactory) -> None:
    folder = make_site("podman-cannot")
    named = f"Podman {_podman_version(podman)}"
    swarm = podman.cli("deploy", str(folder), "--to", "swarm", "--registry", "127.0.0.1:9",
                       "--repository", "team/none")  # fmt: skip
    assert swarm.returncode == 1
    assert named in swarm.stderr and "has no Swarm mode" in swarm.stderr
    assert "sitedeploy k8s" in swarm.stderr and "Pushing" not in swarm.stderr
    buildkit = podman.cli("up", str(folder), "--engine", "buildkit")
    assert buildkit.returncode == 1
    assert named in buildkit.stderr and "cannot build with BuildKit" in buildkit.stderr
    (folder / "sitedeploy.toml").write_text('[build]\nbefore = "echo prepared"\n')
    before = podman.cli("up", str(folder))
    assert before.returncode == 1
    assert "[build] before needs BuildKit" in before.stderr
    assert "Podman has no BuildKit" in before.stderr and "--engine buildkit" not in before.stderr
