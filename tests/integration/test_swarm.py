"""Docker Swarm deploys on a one-node swarm with a real registry: rolling updates under a
request loop, a rollback, and a broken version the swarm rolls back by itself."""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3
from cryptography import x509

from deployer.commands.publish import publish
from deployer.config import load_config
from deployer.engine import Engine
from deployer.labels import Label
from deployer.progress import Progress
from deployer.resources import docker_dir
from deployer.ship.publish import PublishSettings
from deployer.ship.swarm import deploy_swarm, remove_swarm, rollback_swarm, swarm_status
from deployer.site import Site, open_site
from deployer.waiting import wait_until
from tests.acme_ca import BLOCKED, Pebble
from tests.certs import make_ca, make_leaf
from tests.conftest import SiteFactory, free_port
from tests.registry import RunningRegistry, start_registry
from tests.running import cli

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def swarm(engine: Engine) -> Iterator[None]:
    """A one-node swarm, left as it was found (a swarm that was there stays)."""
    state = engine.client.info()["Swarm"]["LocalNodeState"]
    if state != "active":
        engine.client.swarm.init(advertise_addr="127.0.0.1")
    yield
    if state != "active":
        engine.client.swarm.leave(force=True)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry(tmp_path_factory.mktemp("swarm-registry"))
    yield running
    running.close()


def _mark(folder: Path, version: str) -> None:
    (folder / "index.md").write_text(f"---\nlayout: home\ntitle: Home\n---\n\nSWARM-{version}\n")


def _publish(engine: Engine, site: Site, registry: RunningRegistry) -> str:
    settings = PublishSettings(registry=registry.host, repository="team/swarm")
    result = publish(engine, site, load_config(site.path), Progress(quiet=True), settings)
    return f"{registry.host}/team/swarm@{result.digest}"


def _broken(engine: Engine, good: str, registry: RunningRegistry, workdir: Path) -> str:
    """The good image with a health location that answers 500: it serves, but fails its
    health check, as a bad config would."""
    conf = (docker_dir() / "runtime/conf/nginx.conf").read_text()
    conf = conf.replace("return 204;", "return 500;")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "nginx.conf").write_text(conf)
    (workdir / "Dockerfile").write_text(f"FROM {good}\nCOPY nginx.conf /etc/nginx/nginx.conf\n")
    image, _ = engine.client.images.build(
        path=str(workdir), tag=f"{registry.host}/team/swarm:broken"
    )
    for line in engine.api.push(
        f"{registry.host}/team/swarm", tag="broken", stream=True, decode=True
    ):
        assert "error" not in line, line
    digests: list[str] = engine.client.images.get(str(image.id)).attrs["RepoDigests"]
    return next(d for d in digests if d.startswith(f"{registry.host}/team/swarm@"))


class Loop:
    """Clients requesting the home page through the published port, counting answers."""

    def __init__(self, url: str, clients: int = 3) -> None:
        self.url = url
        self.stop = threading.Event()
        self.answers: Counter[object] = Counter()
        self.versions: Counter[str] = Counter()
        self.threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        with requests.Session() as http:
            while not self.stop.is_set():
                try:
                    response = http.get(self.url + "/", timeout=10)
                except requests.RequestException as error:
                    self.answers[type(error).__name__] += 1
                    continue
                self.answers[response.status_code] += 1
                self.versions.update(re.findall(r"SWARM-v\d", response.text))

    def __enter__(self) -> Loop:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def _digests(engine: Engine, site: Site) -> set[str]:
    return {task.image for task in swarm_status(engine, site).tasks if task.state == "running"}


def test_deploy_without_a_swarm_is_a_clear_error(engine: Engine, make_site: SiteFactory) -> None:
    """(First in this module: the swarm fixture of the next tests is not up yet.)"""
    if engine.client.info()["Swarm"]["LocalNodeState"] == "active":
        pytest.skip("this daemon is a swarm manager")
    run = cli("status", str(make_site("noswarm")), "--to", "swarm")
    assert run.returncode == 1
    assert "is not a swarm manager" in run.stderr and "docker swarm init" in run.stderr


def test_rolling_updates_rollback_and_a_failed_version(
    engine: Engine, swarm: None, registry: RunningRegistry, make_site: SiteFactory, tmp_path: Path
) -> None:
    folder = make_site("swarm")
    site = open_site(folder)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    progress = Progress(quiet=True)
    try:
        _mark(folder, "v1")
        v1 = _publish(engine, site, registry)
        first = deploy_swarm(engine, site, v1, replicas=3, port=port, progress=progress)
        assert first.created

        def serves_v1() -> bool:
            try:
                return "SWARM-v1" in requests.get(url + "/", timeout=5).text
            except requests.RequestException:
                return False

        wait_until(60, serves_v1, f"{url} to serve SWARM-v1", every=0.5)
        status = swarm_status(engine, site)
        assert (status.desired, status.running) == (3, 3)

        _mark(folder, "v2")
        v2 = _publish(engine, site, registry)
        with Loop(url) as loop:
            update = deploy_swarm(engine, site, v2, replicas=3, port=port, progress=progress)
        answers, versions = dict(loop.answers), dict(loop.versions)
        print(f"\nswarm v1->v2: {update.seconds:.1f} s, answers {answers}, {versions}")
        assert update.update_state == "completed"
        assert set(loop.answers) == {200}
        assert loop.versions["SWARM-v2"] > 0
        assert _digests(engine, site) == {v2}

        with Loop(url) as loop:
            back = rollback_swarm(engine, site, progress)
        print(f"swarm rollback to v1: {back.seconds:.1f} s, answers {dict(loop.answers)}")
        assert set(loop.answers) == {200}
        assert _digests(engine, site) == {v1}

        with Loop(url) as loop:
            again = deploy_swarm(engine, site, v2, replicas=3, port=port, progress=progress)
            assert _digests(engine, site) == {v2}
            v3 = _broken(engine, v2, registry, tmp_path / "broken")
            failed = deploy_swarm(engine, site, v3, replicas=3, port=port, progress=progress)
        print(f"swarm v3 (unhealthy): {failed.seconds:.1f} s -> {failed.update_state}, "
              f"answers {dict(loop.answers)}")  # fmt: skip
        assert again.update_state == "completed"
        assert failed.rolled_back
        assert set(loop.answers) == {200}
        assert _digests(engine, site) == {v2}
        assert swarm_status(engine, site).image == v2
    finally:
        remove_swarm(engine, site)


def test_cli_deploy_status_and_remove(
    swarm: None, registry: RunningRegistry, make_site: SiteFactory
) -> None:
    folder = make_site("swarmcli")
    port = free_port()
    deployed = cli(
        "deploy", str(folder), "--to", "swarm", "--replicas", "2", "--port", str(port),
        "--registry", registry.host, "--repository", "team/cli", "--json", timeout=600,
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr
    report = json.loads(deployed.stdout)
    assert report["replicas"] == {"desired": 2, "running": 2}
    assert all(
        task["image"].startswith(f"{registry.host}/team/cli@sha256:") for task in report["tasks"]
    )
    status = cli("status", str(folder), "--to", "swarm", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["url"] == f"http://127.0.0.1:{port}"
    (folder / "sitedeploy.toml").write_text('[deploy]\nto = "swarm"\n')
    old_spelling = cli("deploy", str(folder), "--status")  # the target from sitedeploy.toml
    assert old_spelling.returncode == 0
    assert "`deploy --status` is now `status --to …`" in old_spelling.stderr
    removed = cli("remove", str(folder), "--to", "swarm", "--json")
    assert removed.returncode == 0, removed.stderr
    names = json.loads(removed.stdout)["removed"]
    assert any(name.endswith("-site") for name in names), names
    assert any(name.endswith("-front") for name in names), names
    gone = cli("status", str(folder), "--to", "swarm")
    assert gone.returncode == 1 and "No swarm deploy of" in gone.stderr


def _redirects_to_https(http_port: int, https_port: int) -> None:
    """HTTP gets a 301 to the same path and query over https."""
    plain = requests.get(
        f"http://127.0.0.1:{http_port}/about/?q=1", headers={"Host": "example.test"},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"https://example.test:{https_port}/about/?q=1"


def test_the_swarm_serves_https_with_a_given_certificate(
    engine: Engine, swarm: None, registry: RunningRegistry, make_site: SiteFactory
) -> None:
    folder = make_site("swarm-https")
    ca = make_ca(folder)
    cert, key, serial = make_leaf(folder, ca, "site")
    http_port, https_port = free_port(), free_port()
    (folder / "sitedeploy.toml").write_text(
        f'[publish]\nregistry = "{registry.host}"\nrepository = "team/swarm-https"\n\n'
        '[tls]\ndomains = ["example.test"]\ncert = "missing.pem"\nkey = "missing.key"\n'
    )
    missing = cli("deploy", str(folder), "--to", "swarm")
    assert missing.returncode == 1 and "missing.pem" in missing.stderr, missing.stderr
    # Said before anything was published.
    assert registry.get("/v2/team/swarm-https/tags/list").status_code == 404
    (folder / "sitedeploy.toml").write_text(
        f'[publish]\nregistry = "{registry.host}"\nrepository = "team/swarm-https"\n\n'
        '[tls]\ndomains = ["example.test", "www.example.test"]\n'
        f'cert = "{cert.name}"\nkey = "{key.name}"\n'
    )
    try:
        run = cli(
            "deploy", str(folder), "--to", "swarm", "--replicas", "1", "--port", str(http_port),
            "--https-port", str(https_port), "--hsts", "preload",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        context = ssl.create_default_context(cafile=str(folder / "ca.pem"))
        pool = urllib3.HTTPSConnectionPool(
            "127.0.0.1", https_port, server_hostname="example.test", ssl_context=context,
            retries=False,
        )  # fmt: skip

        def serves() -> bool:
            try:
                return pool.request("GET", "/", headers={"Host": "example.test"}).status == 200
            except (urllib3.exceptions.HTTPError, OSError):
                return False

        wait_until(60, serves, "the swarm's fronts to serve HTTPS")
        answer = pool.request("GET", "/", headers={"Host": "example.test"})
        assert answer.headers["Strict-Transport-Security"].endswith("preload")
        with (
            socket.create_connection(("127.0.0.1", https_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="www.example.test") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            assert der is not None and tls.version() in {"TLSv1.2", "TLSv1.3"}
        assert x509.load_der_x509_certificate(der).serial_number == serial
        _redirects_to_https(http_port, https_port)
        status = cli("status", str(folder), "--to", "swarm", "--json")
        shown = json.loads(status.stdout)
        assert status.returncode == 0, shown
        assert shown["url"].startswith(f"https://127.0.0.1:{https_port}")
        assert shown["tls"]["certificate"]["serial"] == f"{serial:x}"
        secrets = engine.client.secrets.list(
            filters={"name": f"{open_site(folder).container_name}-tls-"}
        )
        assert len(secrets) == 1 and "PRIVATE KEY" not in json.dumps(secrets[0].attrs)
    finally:
        remove_swarm(engine, open_site(folder))
    assert not engine.client.secrets.list(
        filters={"name": f"{open_site(folder).container_name}-tls-"}
    )


def test_the_swarm_gets_and_serves_certificates_over_acme(
    engine: Engine,
    swarm: None,
    registry: RunningRegistry,
    make_site: SiteFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Each node's renewer (a global service) gets its node's certificate from pebble,
    answered through the node's front; a refusal is one clear error and the certificate
    served stays."""
    folder = make_site("swarm-acme")
    http_port, https_port = free_port(), free_port()
    pebble = Pebble(tmp_path_factory.mktemp("swarm-pebble"), http_port)
    pebble.start()
    site = open_site(folder)

    def configure(*names: str) -> None:
        (folder / "sitedeploy.toml").write_text(
            f'[publish]\nregistry = "{registry.host}"\nrepository = "team/swarm-acme"\n\n'
            f"[deploy]\nport = {http_port}\n\n"
            f"[tls]\ndomains = {json.dumps(list(names))}\nhttps_port = {https_port}\n"
            f'acme_email = "ops@example.test"\nacme_directory = "{pebble.directory}"\n'
            f'acme_ca = "{pebble.listener_ca}"\n'
        )

    def served(name: str) -> x509.Certificate:
        context = ssl.create_default_context(cafile=str(roots))
        with (
            socket.create_connection(("127.0.0.1", https_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der)

    try:
        configure("example.test", "www.example.test")
        run = cli("deploy", str(folder), "--to", "swarm", "--replicas", "1")
        assert run.returncode == 0, run.stderr
        roots = pebble.roots()
        first = served("www.example.test")
        assert "Pebble" in first.issuer.rfc4514_string()
        names = first.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert sorted(names.value.get_values_for_type(x509.DNSName)) == [
            "example.test", "www.example.test",
        ]  # fmt: skip
        pool = urllib3.HTTPSConnectionPool(
            "127.0.0.1", https_port, server_hostname="example.test", ca_certs=str(roots),
            retries=False,
        )  # fmt: skip
        page = pool.request("GET", "/", headers={"Host": "example.test"})
        assert page.status == 200 and "Strict-Transport-Security" in page.headers
        _redirects_to_https(http_port, https_port)
        # A challenge this node's renewer did not write is asked of the other fronts
        # (here, only itself, which says no once: no loop).
        unknown = requests.get(
            f"http://127.0.0.1:{http_port}/.well-known/acme-challenge/nobody",
            headers={"Host": "example.test"}, timeout=10,
        )  # fmt: skip
        assert unknown.status_code == 404
        status = cli("status", str(folder), "--to", "swarm", "--json")
        shown = json.loads(status.stdout)["tls"]
        assert shown["renewer"]["nodes"] == shown["renewer"]["with_certificate"] == 1, shown
        assert shown["renewer"]["certificate"]["serial"] == f"{first.serial_number:x}"
        said = cli("status", str(folder), "--to", "swarm")
        assert "ACME: 1/1 nodes have their certificate" in said.stdout + said.stderr
        renewer = engine.find_service(f"{site.container_name}-renewer")
        assert renewer is not None and "PRIVATE KEY" not in json.dumps(renewer.attrs)

        configure("example.test", "www.example.test", BLOCKED)
        refused = cli("deploy", str(folder), "--to", "swarm", "--replicas", "1")
        assert refused.returncode == 1, refused.stdout
        assert "No certificate for example.test, www.example.test, blocked.test" in (refused.stderr)
        assert "keeps serving" in refused.stderr and "Traceback" not in refused.stderr
        assert served("example.test").serial_number == first.serial_number
        assert pool.request("GET", "/", headers={"Host": "example.test"}).status == 200
    finally:
        remove_swarm(engine, site)
        pebble.close()
    assert engine.find_service(f"{site.container_name}-renewer") is None
    assert not engine.client.configs.list(filters={"label": f"{Label.SITE_ID}={site.id}"})


def test_a_swarm_deploy_with_verify_key_refuses_an_unsigned_image_before_anything_rolls(
    engine: Engine, swarm: None, registry: RunningRegistry, make_site: SiteFactory,
    tmp_path: Path,
) -> None:  # fmt: skip
    env = {"SITEDEPLOY_SIGNING_PASSWORD": "swarm-test"}
    assert cli("keys", "new", "--out", str(tmp_path / "cosign"), env=env).returncode == 0
    folder = make_site("swarm-verified")
    refused = cli(
        "deploy", str(folder), "--to", "swarm", "--registry", registry.host, "--repository",
        "team/swarm-verified", "--verify-key", str(tmp_path / "cosign.pub"), env=env,
    )  # fmt: skip
    assert refused.returncode == 1 and "is not signed" in refused.stderr, refused.stderr
    site = open_site(folder)
    assert engine.find_service(f"{site.container_name}-site") is None  # nothing rolled
