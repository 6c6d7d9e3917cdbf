"""The installed `sitedeploy` command, run as a user runs it: exit codes and output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from deployer.waiting import wait_until
from tests.conftest import free_port
from tests.running import cli

pytestmark = pytest.mark.engine


@pytest.mark.parametrize(
    "command",
    ["new", "up", "build", "check", "status", "logs", "down", "report", "publish", "deploy",
     "rollback", "remove", "k8s", "inspect"],
)  # fmt: skip
def test_every_command_has_help(command: str) -> None:
    result = cli(command, "--help")
    assert result.returncode == 0
    assert "Usage: sitedeploy " + command in result.stdout
    assert "--json" in result.stdout  # every command, through the shared decorator


def test_new_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "site"
    assert cli("new", str(target)).returncode == 0
    assert (target / "_config.yml").is_file()
    (target / "index.md").write_text("mine")
    again = cli("new", str(target))
    assert again.returncode == 1
    assert "already exists and is not empty" in again.stderr
    assert (target / "index.md").read_text() == "mine"


def test_new_up_status_logs_down(sites_root: Path) -> None:
    folder = sites_root / "sdtest-cli"
    created = cli("new", str(folder), "--json")
    assert created.returncode == 0 and json.loads(created.stdout)["site"] == str(folder)
    port = free_port()

    result = cli("up", str(folder), "--port", str(port), "--json", "-v")
    assert result.returncode == 0, result.stderr
    # -v names the engine in one line: product, version, CPU, image store, builder
    assert re.search(
        r"Engine: Docker Engine \S+ \(API [\d.]+\), amd64, classic image store", result.stderr
    )
    report = json.loads(result.stdout)
    for key in (
        "url", "image", "image_size", "builder_image", "builder_size", "site_bytes",
        "pages_checked", "failures", "warnings", "container",
    ):  # fmt: skip
        assert key in report
    assert report["url"] == f"http://127.0.0.1:{port}"
    assert report["failures"] == []
    assert report["image_size"] < report["builder_size"]
    assert "Preview: http://127.0.0.1:" in result.stderr
    assert requests.get(report["url"], timeout=10).status_code == 200

    status = cli("status", str(folder), "--json")
    assert status.returncode == 0
    state = json.loads(status.stdout)
    assert (state["state"], state["answering"], state["url"]) == ("running", True, report["url"])
    assert (state["container"], state["server"]) == (report["container"], report["server"])
    assert state["image"] == report["image"]

    # nginx flushes its access log every second: wait for the request to be written.
    def logged() -> bool:
        logs = cli("logs", str(folder))
        assert logs.returncode == 0, logs.stderr
        return '"GET / HTTP/1.1" 200' in logs.stdout

    wait_until(10, logged, "the request in the preview's logs", every=0.2)
    as_json = cli("logs", str(folder), "--json")
    assert any('"GET / HTTP/1.1" 200' in line for line in json.loads(as_json.stdout)["lines"])

    down = cli("down", str(folder), "--json")
    assert down.returncode == 0
    assert json.loads(down.stdout)["removed"]
    assert report["container"] in down.stderr
    after = cli("status", str(folder))
    assert after.returncode == 3
    assert "No preview of" in after.stdout


def test_unreachable_daemon_is_one_clear_error(sites_root: Path) -> None:
    folder = sites_root / "sdtest-nodaemon"
    cli("new", str(folder))
    result = cli("up", str(folder), env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 1
    assert result.stderr.startswith(
        "Error: Cannot reach the Docker daemon at unix:///nonexistent/docker.sock (DOCKER_HOST)"
    )
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_flag_and_not_a_site(tmp_path: Path) -> None:
    bad_port = cli("up", str(tmp_path), "--port", "70000")
    assert bad_port.returncode == 1
    assert "--port: expected a port number from 1 to 65535, got 70000" in bad_port.stderr
    not_a_site = cli("up", str(tmp_path))
    assert not_a_site.returncode == 1
    assert "has no _config.yml, so it is not a Jekyll site" in not_a_site.stderr


def test_json_failure_is_one_json_object(tmp_path: Path) -> None:
    result = cli("build", str(tmp_path), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["ok"] is False


def test_report_shows_sizes_and_every_layer(sites_root: Path) -> None:
    folder = sites_root / "sdtest-report"
    cli("new", str(folder))
    result = cli("report", str(folder))
    assert result.returncode == 0, result.stderr
    assert "nginx (final)" in result.stderr and "builder (Ruby)" in result.stderr
    assert "times smaller" in result.stderr
    assert "COPY /rootfs/ /" in result.stderr  # the runtime layer, as docker history shows it
    assert "COPY /srv/www /srv/www" in result.stderr


def test_k8s_writes_valid_hardened_manifests(tmp_path: Path) -> None:
    import kubernetes_validate
    import yaml

    folder = tmp_path / "blog"
    cli("new", str(folder))
    image = "registry.example.com/team/blog@sha256:" + "0" * 64
    result = cli(
        "k8s", str(folder), "--image", image, "--replicas", "3", "--host", "blog.example.com"
    )
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in documents] == ["Deployment", "Service", "Ingress"]
    for document in documents:
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
    assert documents[0]["spec"]["template"]["spec"]["containers"][0]["image"] == image
    unpinned = cli("k8s", str(folder), "--image", "team/blog:latest", "--json")
    assert unpinned.returncode == 1
    assert "has no known digest here" in json.loads(unpinned.stdout)["error"]
    unnamed = cli("k8s", str(folder))
    assert unnamed.returncode == 1 and "Give --image REPOSITORY@sha256:" in unnamed.stderr


def test_k8s_serves_https_at_the_ingress_from_tls_settings(tmp_path: Path) -> None:
    import kubernetes_validate
    import yaml

    from tests.acme_ca import self_signed

    folder = tmp_path / "blog"
    cli("new", str(folder))
    image = "registry.example.com/team/blog@sha256:" + "0" * 64
    config = folder / "sitedeploy.toml"
    config.write_text(
        '[tls]\ndomains = ["blog.example.com", "www.blog.example.com"]\n'
        'acme_email = "ops@example.com"\n'
    )
    result = cli("k8s", str(folder), "--image", image, "--cluster-issuer", "letsencrypt-prod")
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    ingress = documents[-1]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == (
        "letsencrypt-prod"
    )
    assert ingress["spec"]["tls"][0]["hosts"] == ["blog.example.com", "www.blog.example.com"]

    cert, key = self_signed(folder, "site")
    config.write_text(f'[tls]\ncert = "{cert.name}"\nkey = "{key.name}"\n')
    refused = cli("k8s", str(folder), "--image", image)
    assert refused.returncode == 1 and "never printed" in refused.stderr
    assert "PRIVATE KEY" not in refused.stdout + refused.stderr
    written = tmp_path / "k8s.yaml"
    result = cli("k8s", str(folder), "--image", image, "-o", str(written), "--json")
    assert result.returncode == 0, result.stderr
    assert "PRIVATE KEY" not in result.stdout and "yaml" not in json.loads(result.stdout)
    assert written.stat().st_mode & 0o777 == 0o600
    documents = list(yaml.safe_load_all(written.read_text()))
    assert [d["kind"] for d in documents] == ["Deployment", "Service", "Secret", "Ingress"]
    for document in documents:
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
    assert documents[3]["spec"]["tls"] == [{"hosts": ["localhost"], "secretName": "blog-tls"}]
