"""The front's configuration and its socket slots, as text and rules."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from deployer.hardening import SOCKET_PATH
from deployer.resources import docker_dir
from deployer.serve.front import free_slot
from deployer.serve.front_config import (
    ALPN_SOCKET,
    HTTPS_SOCKET,
    LIVE_LINK,
    LIVE_RELOAD_PATH,
    PROBE_PATH,
    FrontTls,
    render_front_config,
    slot_socket,
)


def _server(slot: str | None) -> Any:
    return SimpleNamespace(labels={"io.sitedeploy.slot": slot} if slot else {})


def test_the_front_proxies_through_the_live_link_and_keeps_connections() -> None:
    conf = render_front_config("127.0.0.1:8080")
    assert "listen 127.0.0.1:8080 default_server;" in conf
    assert f"server unix:{LIVE_LINK};" in conf and "keepalive 64;" in conf
    assert "keepalive_timeout 65s;" in conf and "keepalive_timeout 0" not in conf
    assert f"location = {PROBE_PATH}" in conf
    assert "$$" not in conf and "${" not in conf


def test_live_reload_is_only_in_watch_mode_and_only_for_pages_browsers_ask_for() -> None:
    assert LIVE_RELOAD_PATH not in render_front_config("8080")
    conf = render_front_config("8080", live_reload=True)
    assert f"location = {LIVE_RELOAD_PATH}" in conf
    assert '"~text/html" \'<script src="/.sitedeploy/livereload.js"></script>\';' in conf
    assert 'sub_filter "</body>" "$sitedeploy_reload_tag</body>";' in conf
    assert "$$" not in conf and "${" not in conf


def test_a_new_server_takes_the_slot_the_serving_one_is_not_in() -> None:
    assert free_slot(None) == "a"
    assert free_slot(_server("a")) == "b"
    assert free_slot(_server("b")) == "a"
    assert free_slot(_server(None)) == "a"  # a server of an earlier layout
    assert slot_socket("b") == "/run/sitedeploy/b/sitedeploy.sock"


def test_only_a_preview_server_listens_on_the_socket_its_front_reaches() -> None:
    """The runtime's nginx.conf listens on no socket; the slot.conf built from it (a
    preview server's) on SOCKET_PATH, a file of the slot volume's, as the front names it."""
    conf = (docker_dir() / "runtime/conf/nginx.conf").read_text()
    assert not re.search(r"^\s*listen unix:", conf, re.MULTILINE)
    (slot,) = re.findall(r"^\s*# slot: (.*)$", conf, re.MULTILINE)
    assert slot == f"listen unix:{SOCKET_PATH} default_server;"
    assert SOCKET_PATH.rsplit("/", 1)[1] == slot_socket("a").rsplit("/", 1)[1]


def _tls_servers(conf: str) -> tuple[str, str]:
    http, _, https = conf.partition("ssl http2 default_server;")
    return http, https


def test_a_live_front_without_a_certificate_yet_serves_http_and_answers_acme() -> None:
    conf = render_front_config("80", tls=FrontTls(443, certificate=False), https_listen="8443")
    assert "location ^~ /.well-known/acme-challenge/" in conf and "proxy_pass http://site;" in conf
    assert "ssl_certificate" not in conf and "return 301" not in conf
    assert "listen 8443" not in conf


def test_a_live_front_with_its_certificate_redirects_http_and_serves_https() -> None:
    tls = FrontTls(443, certificate=True, hsts="max-age=15552000", canonical="example.com")
    http, https = _tls_servers(render_front_config("80", tls=tls, https_listen="8443"))
    assert "location ^~ /.well-known/acme-challenge/" in http
    assert "return 301 https://example.com$request_uri;" in http  # 443: no port in it
    assert "location ^~ /.sitedeploy/" in http  # sitedeploy's own checks stay on HTTP
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in http and "ssl_session_tickets off;" in http
    assert "ssl_certificate $sitedeploy_certificate;" in https
    assert 'add_header Strict-Transport-Security "max-age=15552000" always;' in https
    assert 'if ($host != "example.com")' in https and "proxy_pass http://site;" in https
    assert "listen 8443 ssl http2 default_server;" in http + "ssl http2 default_server;"


def test_the_redirect_names_a_port_that_is_not_443_and_keeps_the_host_without_canonical() -> None:
    tls = FrontTls(8443, certificate=True)
    http, https = _tls_servers(render_front_config("8080", tls=tls, https_listen="8443"))
    assert "return 301 https://$host:8443$request_uri;" in http
    assert "Strict-Transport-Security" not in https and "if ($host" not in https


def test_tls_alpn_01_routes_the_cas_handshakes_to_the_renewers_answers_and_the_rest_on() -> None:
    alpn = FrontTls(443, certificate=False, alpn=True)
    before = render_front_config("80", tls=alpn, https_listen="0.0.0.0:443")
    assert (
        before.startswith("# ")
        and "load_module /usr/lib/nginx/modules/ngx_stream_module"
        in (before.split("worker_processes", 1)[0])
    )
    stream = before.split("stream {", 1)[1].split("\nhttp {", 1)[0]
    assert "listen 0.0.0.0:443;" in stream and "ssl_preread on;" in stream
    assert f'"acme-tls/1" unix:{ALPN_SOCKET};' in stream
    assert f"default unix:{HTTPS_SOCKET};" in stream and "proxy_protocol on;" in stream
    assert "ssl_alpn acme-tls/1;" in stream and "ssl_certificate $sitedeploy_alpn_answer;" in stream
    # Only names, never a path, pick an answer file.
    assert '"~^[a-z0-9.-]+$"' in stream
    assert "listen 80 default_server;" in before and "ssl http2" not in before
    after = render_front_config(
        "80", tls=FrontTls(443, certificate=True, alpn=True), https_listen="0.0.0.0:443"
    )
    _http, https = _tls_servers(after)
    assert f"listen unix:{HTTPS_SOCKET} proxy_protocol ssl http2 default_server;" in after
    assert "real_ip_header proxy_protocol;" in https
    assert "stream {" not in render_front_config(
        "80", tls=FrontTls(443, certificate=True), https_listen="443"
    )


def test_a_stapled_certificate_is_loaded_at_start_and_names_its_serial() -> None:
    tls = FrontTls(443, certificate=True, stapled="1a2b")
    _http, https = _tls_servers(render_front_config("80", tls=tls, https_listen="443"))
    assert "ssl_stapling on;" in https and "# certificate 1a2b" in https
    assert "ssl_certificate /etc/sitedeploy/tls/live/site.pem;" in https
    assert "$sitedeploy_certificate" not in https
    # Another certificate is another configuration: the deploy reloads the front for it.
    other = render_front_config("80", tls=FrontTls(443, True, stapled="3c4d"), https_listen="443")
    assert other != render_front_config("80", tls=tls, https_listen="443")
