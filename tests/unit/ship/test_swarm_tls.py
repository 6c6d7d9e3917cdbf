"""The swarm front's HTTPS configuration, the renewer's health check (docker/acme/), and
which given certificates are stapled."""

from __future__ import annotations

import datetime as dt
import importlib.util
from dataclasses import replace
from types import ModuleType

from deployer.certs import CertificateInfo
from deployer.resources import docker_dir
from deployer.serve.front_config import TLS_FILE, FrontTls
from deployer.ship.swarm_services import TLS_SECRET_FILE, render_swarm_front
from deployer.ship.tls import front_tls
from deployer.tls_settings import TlsSettings

TLS = FrontTls(https_port=443, certificate=True, hsts="max-age=15552000")


def test_a_given_certificate_is_the_secret_and_http_always_redirects() -> None:
    config = render_swarm_front("blog-site", TLS)
    assert f'default "/run/secrets/{TLS_SECRET_FILE}"' in config
    assert "location / {\n            return 301 https://$host$request_uri;" in config
    assert "@peers" not in config and "if (-f" not in config


def test_with_acme_a_node_serves_http_until_its_certificate_and_asks_peers_for_answers() -> None:
    config = render_swarm_front("blog-site", TLS, acme_peers="blog-front")
    assert f'default "{TLS_FILE}"' in config
    until = f"if (-f {TLS_FILE}) {{\n                return 301 https://$host$request_uri;"
    assert until in config
    # …and without a certificate the same location proxies to the site.
    after = config.split(until, 1)[1].split("}\n        }", 1)[0]
    assert 'set $site_tasks "tasks.blog-site";' in after
    assert "error_page 404 = @peers;" in config
    peers = config.split("location @peers {", 1)[1].split("\n        }", 1)[0]
    # A front asked by a peer answers from its own volume only: no loop.
    assert "if ($http_x_sitedeploy_peer) {\n                return 404;" in peers
    assert "proxy_pass http://$sitedeploy_peers:8080;" in peers
    assert 'set $sitedeploy_peers "tasks.blog-front";' in peers
    assert "proxy_next_upstream error timeout http_404;" in peers


def _healthy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthy", docker_dir() / "acme" / "healthy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SETTINGS = {"directory": "https://ca.test/dir", "domains": ["www.a.test", "a.test"]}


def _status(**changes: object) -> dict[str, object]:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    certificate = {
        "directory": "https://ca.test/dir",
        "names": ["a.test", "www.a.test"],
        "not_after": later.isoformat(),
        **changes,
    }
    return {"state": "valid", "certificate": certificate}


def test_the_renewer_is_healthy_only_with_a_current_certificate_for_its_settings() -> None:
    healthy = _healthy().healthy
    assert healthy(SETTINGS, _status())
    # A renewal that failed while the certificate is still good: still healthy.
    assert healthy(SETTINGS, {**_status(), "state": "failed"})
    assert not healthy(SETTINGS, {"state": "failed", "certificate": None})
    assert not healthy(SETTINGS, _status(names=["a.test"]))  # names changed: not yet
    assert not healthy(SETTINGS, _status(directory="https://other.test/dir"))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert not healthy(SETTINGS, _status(not_after=past.isoformat()))


def test_front_tls_staples_a_given_certificate_only_with_an_http_responder() -> None:
    now = dt.datetime.now(dt.UTC)
    info = CertificateInfo(("a.test",), "CN=CA", "1f", now, now, "http://ocsp.ca.test")
    settings = TlsSettings(domains=("a.test",))
    assert front_tls(settings, True, given=info).stapled == "1f"
    assert front_tls(settings, True, given=replace(info, ocsp=None)).stapled is None
    assert front_tls(settings, True, given=replace(info, ocsp="ldap://x")).stapled is None
    assert front_tls(settings, True).stapled is None  # ACME's: renewed in place
