"""The front's configuration and its socket slots, as text and rules."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from deployer.serve.front import free_slot
from deployer.serve.front_config import (
    LIVE_LINK,
    LIVE_RELOAD_PATH,
    PROBE_PATH,
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
