"""`sitedeploy publish` against Debian's docker-registry: open, with a login, with TLS."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from deployer.commands.publish import publish
from deployer.config import load_config
from deployer.engine import Engine
from deployer.errors import RegistryError
from deployer.progress import Progress
from deployer.ship.publish import PublishResult, PublishSettings
from deployer.ship.registry import Credentials
from deployer.site import open_site
from tests.conftest import SiteFactory, free_port
from tests.registry import RunningRegistry, start_registry
from tests.running import SITEDEPLOY, cli

pytestmark = pytest.mark.engine

PASSWORD = "correct-horse-battery-8472"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry(tmp_path_factory.mktemp("registry-open"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def locked_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry(tmp_path_factory.mktemp("registry-auth"), login=("alice", PASSWORD))
    yield running
    running.close()


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry(tmp_path_factory.mktemp("registry-tls"), tls=True)
    yield running
    running.close()


def run_publish(
    engine: Engine, folder: Path, registry: RunningRegistry, tags: list[str], **kwargs: object
) -> PublishResult:
    settings = PublishSettings(
        registry=registry.host,
        repository="team/blog",
        tags=tuple(tags),
        credentials=kwargs.pop("credentials", None),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )
    return publish(engine, open_site(folder), load_config(folder), Progress(quiet=True), settings)


def test_publish_then_pull_back_by_digest(
    engine: Engine, make_site: SiteFactory, registry: RunningRegistry
) -> None:
    folder = make_site("publish")
    result = run_publish(engine, folder, registry, ["v1.2", "latest"])
    assert result.digest and result.digest.startswith("sha256:")
    assert result.layers_pushed == 3 and result.verified_layers == 3
    assert 0 < result.bytes_pushed < 8_000_000  # compressed: nginx, libraries, the site
    tags = registry.get("/v2/team/blog/tags/list").json()["tags"]
    assert sorted(tags) == ["latest", "v1.2"]

    local_id = result.image_id
    for tag in engine.client.images.get(local_id).tags:
        engine.client.images.remove(tag, force=True)
    with pytest.raises(docker.errors.ImageNotFound):
        engine.client.images.get(local_id)
    pulled = engine.client.images.pull(f"{registry.host}/team/blog@{result.digest}")
    assert pulled.id == local_id
    labels = pulled.attrs["Config"]["Labels"]
    assert result.images is not None
    assert labels["io.sitedeploy.content-hash"] == result.images.content_hash  # labels survive
    assert labels["org.opencontainers.image.title"] == open_site(folder).name


def test_k8s_pins_what_publish_pushed_from_the_site_config(
    engine: Engine, make_site: SiteFactory, registry: RunningRegistry
) -> None:
    folder = make_site("k8sconf")
    (folder / "sitedeploy.toml").write_text(
        f'[publish]\nregistry = "{registry.host}"\nrepository = "team/k8sconf"\n'
        "[deploy]\nreplicas = 4\n"
    )
    before = cli("k8s", str(folder), "--json")
    assert before.returncode == 1
    assert f"nothing was published to {registry.host}/team/k8sconf" in before.stderr
    result = publish(
        engine, open_site(folder), load_config(folder), Progress(quiet=True), PublishSettings()
    )
    run = cli("k8s", str(folder), "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["image"] == f"{registry.host}/team/k8sconf@{result.digest}"
    assert report["replicas"] == 4 and f"image: {report['image']}" in report["yaml"]


def test_unchanged_content_gets_the_same_tag_and_pushes_no_layer(
    engine: Engine, make_site: SiteFactory, registry: RunningRegistry
) -> None:
    folder = make_site("again")
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com",
         "commit", "-qm", "site"], check=True,
    )  # fmt: skip
    first = run_publish(engine, folder, registry, [])
    content_tag, git_tag = first.tags
    assert len(content_tag) == 12 and git_tag.startswith("git-")
    assert "latest" not in first.tags
    second = run_publish(engine, folder, registry, [])
    assert second.tags == first.tags and second.digest == first.digest
    assert (second.layers_pushed, second.layers_existing, second.bytes_pushed) == (0, 3, 0)
    assert second.images is not None and second.images.reused


def test_dry_run_pushes_nothing(engine: Engine, make_site: SiteFactory, tmp_path: Path) -> None:
    empty = start_registry(tmp_path / "registry")
    try:
        result = run_publish(engine, make_site("dry"), empty, ["v9"], dry_run=True)
        assert result.dry_run and result.refs == [f"{empty.host}/team/blog:v9"]
        assert result.targets == ["linux/amd64", "linux/arm64"]  # every CPU known, one index
        assert empty.get("/v2/_catalog").json()["repositories"] == []
    finally:
        empty.close()


def test_login_from_the_environment_and_from_stdin(
    make_site: SiteFactory, locked_registry: RunningRegistry
) -> None:
    folder = make_site("login")
    env = {"SITEDEPLOY_REGISTRY_USERNAME": "alice", "SITEDEPLOY_REGISTRY_PASSWORD": PASSWORD}
    by_env = cli("publish", str(folder), "--registry", locked_registry.host,
                 "--repository", "team/blog", "--tag", "env", "--json", env=env)  # fmt: skip
    assert by_env.returncode == 0, by_env.stderr
    by_stdin = cli("publish", str(folder), "--registry", locked_registry.host, "--repository",
                   "team/blog", "--tag", "stdin", "--username", "alice", "--password-stdin",
                   stdin=PASSWORD + "\n")  # fmt: skip
    assert by_stdin.returncode == 0, by_stdin.stderr
    assert sorted(locked_registry.get("/v2/team/blog/tags/list").json()["tags"]) == ["env", "stdin"]
    for run in (by_env, by_stdin):
        assert PASSWORD not in run.stdout + run.stderr


def test_wrong_password_is_one_clear_error_and_never_shown(
    make_site: SiteFactory, locked_registry: RunningRegistry
) -> None:
    wrong = "wrong-password-5531"
    env = {"SITEDEPLOY_REGISTRY_USERNAME": "alice", "SITEDEPLOY_REGISTRY_PASSWORD": wrong}
    run = cli("publish", str(make_site("wrong")), "--registry", locked_registry.host,
              "--repository", "team/blog", "--tag", "x", "-v", env=env)  # fmt: skip
    assert run.returncode == 1
    assert f"Registry {locked_registry.host}: the credentials were refused" in run.stderr
    assert "Traceback" not in run.stderr
    assert wrong not in run.stdout + run.stderr
    assert PASSWORD not in run.stdout + run.stderr


def test_a_login_is_required_and_asked_for(
    make_site: SiteFactory, locked_registry: RunningRegistry
) -> None:
    run = cli("publish", str(make_site("nologin")), "--registry", locked_registry.host,
              "--repository", "team/blog", env={"DOCKER_CONFIG": "/nonexistent"})  # fmt: skip
    assert run.returncode == 1
    assert "it requires a login, and no credentials were given" in run.stderr


def test_tls_registry_with_a_private_ca(
    engine: Engine, make_site: SiteFactory, tls_registry: RunningRegistry
) -> None:
    result = run_publish(engine, make_site("tls"), tls_registry, ["secure"])
    assert result.verified_layers == 3
    assert tls_registry.get("/v2/team/blog/tags/list").json()["tags"] == ["secure"]


def test_tls_without_the_ca_is_a_clear_error(make_site: SiteFactory, tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "registry", tls=True)
    trusted = Path("/etc/docker/certs.d") / registry.host / "ca.crt"
    trusted.unlink()
    try:
        run = cli("publish", str(make_site("untrusted")), "--registry", registry.host,
                  "--repository", "team/blog")  # fmt: skip
        assert run.returncode == 1
        assert "TLS verification failed" in run.stderr
        assert f"/etc/docker/certs.d/{registry.host}/ca.crt" in run.stderr
    finally:
        registry.close()


def test_not_a_registry_and_unknown_host(make_site: SiteFactory) -> None:
    folder = make_site("notreg")
    port = free_port()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), http.server.SimpleHTTPRequestHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        website = cli(
            "publish", str(folder), "--registry", f"127.0.0.1:{port}", "--repository", "a/b"
        )
    finally:
        server.shutdown()
    assert website.returncode == 1
    assert "this is not a container registry" in website.stderr
    unknown = cli(
        "publish", str(folder), "--registry", "no-such-host.invalid:5000", "--repository", "a/b"
    )
    assert unknown.returncode == 1
    assert "unknown host 'no-such-host.invalid'" in unknown.stderr


def test_registry_stopped_midway_gives_up_after_bounded_retries(
    engine: Engine, make_site: SiteFactory, tmp_path: Path
) -> None:
    registry = start_registry(tmp_path / "registry")
    big = os.urandom(48 * 1024 * 1024)  # incompressible: the push takes a while
    folder = make_site("midway", {"assets/big.bin": big})
    process = subprocess.Popen(
        [SITEDEPLOY, "publish", str(folder), "--registry", registry.host, "--repository",
         "team/blog", "--tag", "v1", "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    output = []
    for line in process.stdout:
        output.append(line)
        if ": Pushing" in line:
            registry.stop()
            break
    started = time.monotonic()
    rest, _ = process.communicate(timeout=300)
    took = time.monotonic() - started
    text = "".join(output) + rest
    try:
        assert process.returncode == 1, text
        assert "retry 1 in 1 s" in text and "retry 2 in 2 s" in text
        assert f"Pushing to {registry.host} failed: it kept failing after 3 attempts" in text
        assert "The local image is unchanged." in text
        assert took < 120, took
        site = open_site(folder)
        assert engine.client.images.list(name=site.repository)  # still there
    finally:
        registry.close()


def test_a_failed_push_raises_registry_error_in_the_library(
    engine: Engine, make_site: SiteFactory, tmp_path: Path
) -> None:
    registry = start_registry(tmp_path / "registry")
    registry.stop()
    with pytest.raises(RegistryError, match="nothing answers there"):
        run_publish(engine, make_site("down"), registry, ["v1"], credentials=Credentials("a", "b"))
    registry.close()
