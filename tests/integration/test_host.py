"""`deploy` to a server with Docker over SSH, with real parts: Debian's openssh-server on
127.0.0.1 and a key the test makes, docker-py's SSH transport to this same daemon
(DOCKER_HOST=ssh://root@127.0.0.1:PORT, as a rented server is reached): deploy, redeploy
under load, rollback, remove, a deploy that fails its check, an unreachable server and a
refused key, the image through a registry or streamed, and the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from deployer.commands.deploy import DeploySettings, HostResult, deploy
from deployer.config import SiteConfig, load_config
from deployer.engine import Engine, connect
from deployer.errors import EngineUnavailable, PreviewFailed
from deployer.labels import Role
from deployer.progress import Progress
from deployer.serve.preview import find_containers
from deployer.ship.host import host_status, kept_tag, remove_host, rollback_host
from deployer.ship.publish import PublishSettings
from deployer.ship.transfer import layers_there, save_partial
from deployer.site import Site, open_site
from deployer.waiting import wait_until
from tests.conftest import SiteFactory, free_port
from tests.registry import RunningRegistry, start_registry
from tests.running import cli
from tests.sshd import RunningSshd, start_sshd

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSshd]:
    running = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield running
    running.stop()


@pytest.fixture
def home(sshd: RunningSshd, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A HOME whose key the server takes (paramiko reads ~/.ssh from it)."""
    found = sshd.home(f"client-{tmp_path.name}")
    monkeypatch.setenv("HOME", str(found))
    return found


def _mark(folder: Path, version: str) -> None:
    (folder / "index.md").write_text(
        f"---\nlayout: home\ntitle: Home\n---\n\nHOST-{version}\n[about](/about/)\n"
    )


def _config(folder: Path, sshd: RunningSshd, port: int, **more: object) -> SiteConfig:
    return load_config(
        folder,
        {"deploy_server": sshd.url, "deploy_port": port, "deploy_bind": "127.0.0.1", **more},
    )


def _deploy(engine: Engine, folder: Path, config: SiteConfig) -> HostResult:
    result = deploy(
        engine, open_site(folder), config, Progress(quiet=True), DeploySettings(PublishSettings())
    )
    assert isinstance(result, HostResult)
    return result


def _marks(url: str) -> list[str]:
    return re.findall(r"HOST-\w+", requests.get(url + "/", timeout=10).text)


def test_deploy_redeploy_under_load_rollback_and_remove_over_ssh(
    engine: Engine, make_site: SiteFactory, sshd: RunningSshd, home: Path
) -> None:
    folder = make_site("host")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = _config(folder, sshd, port)
    site = open_site(folder)
    _mark(folder, "v1")
    first = _deploy(engine, folder, config)
    try:
        assert first.switched is not None and first.status.server == sshd.url
        assert first.status.url == f"{url}" and _marks(url) == ["HOST-v1"]
        assert first.status.current is not None and first.status.previous is None
        # Nothing changed: the server already serves it.
        assert _deploy(engine, folder, config).switched is None

        statuses: Counter[object] = Counter()
        stop = threading.Event()

        def load() -> None:
            with requests.Session() as http:
                while not stop.is_set():
                    try:
                        statuses[http.get(url + "/", timeout=10).status_code] += 1
                    except requests.RequestException as error:
                        statuses[type(error).__name__] += 1

        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c8", "-d600s", url + "/"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        threads = [threading.Thread(target=load) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            _mark(folder, "v2")
            second = _deploy(engine, folder, config)
            wait_until(30, lambda: sum(statuses.values()) > 200, "the load to go on")
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            wrk.send_signal(2)
            output, _ = wrk.communicate(timeout=60)
        print(f"\nredeploy over SSH under load: {dict(statuses)}\nwrk: {output}")
        assert set(statuses) == {200}, statuses
        assert "Socket errors" not in output and "Non-2xx" not in output, output
        assert _marks(url) == ["HOST-v2"]
        assert second.status.previous is not None
        assert second.status.previous.content == first.status.current.content

        engine_there = connect(sshd.url)
        rollback_host(engine_there, site.live(), replace(config, host="127.0.0.1", port=port),
                      Progress(quiet=True))  # fmt: skip
        assert _marks(url) == ["HOST-v1"]
        state = host_status(engine_there, site.live())
        assert state.previous is not None and state.current is not None
        assert state.current.content == first.status.current.content
    finally:
        removed = remove_host(connect(sshd.url), site.live())
    assert any(name.endswith(site.live().id[:6]) for name in removed)
    assert find_containers(engine, site.live(), Role.SERVER) == []
    assert engine.find_image(kept_tag(site.live())) is None
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/", timeout=5)


def test_a_deploy_that_fails_its_check_leaves_the_old_version_serving(
    engine: Engine, make_site: SiteFactory, sshd: RunningSshd, home: Path
) -> None:
    folder = make_site("hostfail")
    port = free_port()
    config = _config(folder, sshd, port)
    _mark(folder, "first")
    site = open_site(folder)
    first = _deploy(engine, folder, config)
    _mark(folder, "good")
    _deploy(engine, folder, config)
    try:
        (folder / "broken.md").write_text("---\ntitle: Broken\n---\n[nowhere](/nowhere/)\n")
        strict = replace(config)
        with pytest.raises(PreviewFailed, match="failed its check"):
            deploy(
                engine, site, strict, Progress(quiet=True),
                DeploySettings(PublishSettings(), strict=True),
            )  # fmt: skip
        assert _marks(f"http://127.0.0.1:{port}") == ["HOST-good"]
        assert len(find_containers(engine, site.live(), Role.SERVER)) == 1
        kept = host_status(engine, site.live()).previous  # still the one before "good"
        assert kept is not None and first.status.current is not None
        assert kept.content == first.status.current.content
    finally:
        remove_host(connect(sshd.url), site.live())


def test_an_unreachable_server_and_a_refused_key_are_one_clear_error(
    sshd: RunningSshd, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(sshd.home("stranger", authorized=False)))
    with pytest.raises(EngineUnavailable, match="refused our SSH key"):
        connect(sshd.url)
    closed = f"ssh://root@127.0.0.1:{free_port()}"
    with pytest.raises(EngineUnavailable, match=r"Cannot reach .*127\.0\.0\.1"):
        connect(closed)


def test_a_server_that_forbids_forwarding_is_one_clear_error_and_nothing_starts(
    engine: Engine, make_site: SiteFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    closed = start_sshd(tmp_path / "sshd", forwarding=False)
    try:
        monkeypatch.setenv("HOME", str(closed.home("client")))
        folder = make_site("noforward")
        config = _config(folder, closed, free_port())
        with pytest.raises(EngineUnavailable, match="AllowTcpForwarding local"):
            _deploy(engine, folder, config)
        live = open_site(folder).live()
        assert find_containers(engine, live, Role.SERVER) == []
        assert find_containers(engine, live, Role.FRONT) == []
    finally:
        closed.stop()


def test_the_stream_sends_only_the_layers_the_server_lacks(
    engine: Engine, make_site: SiteFactory, sshd: RunningSshd, home: Path
) -> None:
    """The server here is this same daemon, so the site image is removed between saving
    and loading: the partial archive (the runtime's layers left out, as the server has
    them) loads back whole, with the same id."""
    folder = make_site("stream")
    site = open_site(folder)
    result = _deploy(engine, folder, load_config(folder, {"deploy_port": free_port(),
                                                          "deploy_bind": "127.0.0.1"}))  # fmt: skip
    remove_host(engine, site.live())
    tag = result.images.image.tag
    image_id = result.images.image.id
    there = connect(sshd.url)
    known = layers_there(
        there,
        [str(layer) for layer in engine.client.images.get(tag).attrs["RootFS"]["Layers"]],
        site.repository,
    )
    runtime_layers = len(
        engine.client.images.get(result.images.runtime.tag).attrs["RootFS"]["Layers"]
    )
    assert known >= runtime_layers
    with engine.errors("saving"):
        archive, sent = save_partial(engine, tag, runtime_layers, folder.parent / "send.tar")
    for name in [t for t in engine.client.images.get(tag).tags]:
        engine.client.images.remove(name)
    assert engine.find_image(image_id) is None
    with archive.open("rb") as data:
        there.client.images.load(data)
    loaded = engine.find_image(image_id)
    assert loaded is not None and tag in loaded.tags
    assert sent < result.images.image.size / 2  # the site's layer, not nginx's


def test_the_cli_deploys_shows_status_rolls_back_and_removes(
    make_site: SiteFactory, sshd: RunningSshd, tmp_path: Path
) -> None:
    home = sshd.home("cli")
    folder = make_site("hostcli")
    port = free_port()
    (folder / "sitedeploy.toml").write_text(
        f'[deploy]\nserver = "{sshd.url}"\nport = {port}\nbind = "127.0.0.1"\n'
    )
    env = {"HOME": str(home)}
    _mark(folder, "a")
    deployed = cli("deploy", str(folder), "--json", env=env)
    assert deployed.returncode == 0, deployed.stderr
    report = json.loads(deployed.stdout)
    assert report["listen"] == f"127.0.0.1:{port}" and report["current"]["content"]
    assert report["transfer"]["way"] == "stream" and report["server"] == sshd.url
    assert "0.0.0.0" not in deployed.stderr
    _mark(folder, "b")
    assert cli("deploy", str(folder), env=env).returncode == 0
    status = json.loads(cli("status", str(folder), "--to", "host", "--json", env=env).stdout)
    assert status["previous"]["content"] == report["current"]["content"]
    assert cli("rollback", str(folder), env=env).returncode == 0
    assert _marks(f"http://127.0.0.1:{port}") == ["HOST-a"]
    (folder / "broken.md").write_text("---\ntitle: Broken\n---\n[nowhere](/nowhere/)\n")
    refused_strict = cli("deploy", str(folder), "--strict", env=env)
    assert refused_strict.returncode == 1 and "failed its check" in refused_strict.stderr
    assert _marks(f"http://127.0.0.1:{port}") == ["HOST-a"]
    refused = cli("remove", str(folder), env=env)
    assert refused.returncode == 2 and "--to" in refused.stderr  # never a default
    removed = cli("remove", str(folder), "--to", "host", env=env)
    assert removed.returncode == 0, removed.stderr
    gone = cli("status", str(folder), "--to", "host", env=env)
    assert gone.returncode == 3 and "Nothing of this site runs" in gone.stderr


def test_docker_host_names_the_server_and_the_build_stays_here(
    make_site: SiteFactory, sshd: RunningSshd
) -> None:
    """DOCKER_HOST=ssh://… names the server, as for the Docker CLI; the site is built on
    this machine's engine (so the server needs no base image) and streamed there."""
    folder = make_site("dockerhost")
    port = free_port()
    env = {"HOME": str(sshd.home("dockerhost")), "DOCKER_HOST": sshd.url}
    _mark(folder, "dh")
    try:
        deployed = cli("deploy", str(folder), "--port", str(port), "--bind", "127.0.0.1",
                       "--json", env=env)  # fmt: skip
        assert deployed.returncode == 0, deployed.stderr
        report = json.loads(deployed.stdout)
        assert report["server"] == sshd.url and report["transfer"]["way"] == "stream"
        assert f"Building on this machine's engine, deploying to {sshd.url}" in deployed.stderr
        assert _marks(f"http://127.0.0.1:{port}") == ["HOST-dh"]
        status = cli("status", str(folder), "--to", "host", "--json", env=env)
        assert json.loads(status.stdout)["listen"] == f"127.0.0.1:{port}"
    finally:
        assert cli("remove", str(folder), "--to", "host", env=env).returncode == 0


def test_the_image_goes_through_the_registry_when_one_is_named(
    engine: Engine,
    make_site: SiteFactory,
    sshd: RunningSshd,
    home: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    registry: RunningRegistry = start_registry(tmp_path_factory.mktemp("hostregistry"))
    folder = make_site("hostreg")
    site: Site = open_site(folder)
    try:
        config = _config(folder, sshd, free_port(), registry=registry.host, repository="team/live")
        result = _deploy(engine, folder, config)
        assert result.transfer.way == "registry"
        assert result.transfer.reference.startswith(f"{registry.host}/team/live@sha256:")
    finally:
        remove_host(connect(sshd.url), site.live())
        registry.stop()
