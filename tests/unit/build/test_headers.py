"""A site's `[headers]`: read from sitedeploy.toml, merged over the runtime's defaults, and
rendered into the site's Dockerfile only when set."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from deployer.build.headers import default_headers, header_problem, render_conf, site_headers
from deployer.config import load_config
from deployer.errors import ConfigError
from tests.unit.build.test_dockerfile import render

CSP = "default-src 'self'; script-src 'self' 'sha256-abc='; frame-ancestors 'none'"


def test_defaults_are_read_from_the_runtime_configuration() -> None:
    defaults = default_headers()
    assert defaults["X-Content-Type-Options"] == "nosniff"
    assert defaults["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert defaults["X-Frame-Options"] == "SAMEORIGIN"
    assert "default-src 'self'" in defaults["Content-Security-Policy"]
    assert len(defaults) == 6


def test_site_values_replace_add_and_remove_case_insensitively() -> None:
    headers = site_headers(
        (
            ("content-security-policy", CSP),
            ("X-Frame-Options", ""),
            ("Strict-Transport-Security", "max-age=63072000"),
        )
    )
    assert headers["content-security-policy"] == CSP
    assert "Content-Security-Policy" not in headers
    assert "X-Frame-Options" not in headers
    assert headers["Strict-Transport-Security"] == "max-age=63072000"
    assert headers["X-Content-Type-Options"] == "nosniff"  # untouched defaults stay


def test_rendered_conf_reads_back_as_the_same_headers() -> None:
    headers = site_headers((("Content-Security-Policy", CSP),))
    conf = render_conf(headers)
    found = dict(re.findall(r'^add_header (\S+) "([^"]*)" always;$', conf, re.MULTILINE))
    assert found == headers


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("Cache-Control", "no-store", "set by nginx"),
        ("content-type", "text/plain", "set by nginx"),
        ("X Bad", "1", "not an HTTP header name"),
        ("X-Quote", 'a"b', "printable ASCII only"),
        ("X-Var", "$host", "printable ASCII only"),
        ("X-Newline", "a\nb", "printable ASCII only"),
        ("X-Number", 5, "expected a string"),
    ],
)
def test_header_problems(name: str, value: object, problem: str) -> None:
    message = header_problem(name, value)
    assert message is not None and problem in message


def test_config_reads_headers_and_reports_each_bad_one_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "sitedeploy.toml").write_text(
        f'[headers]\nContent-Security-Policy = "{CSP}"\n"X-Frame-Options" = ""\n'
    )
    config = load_config(tmp_path)
    assert config.headers == (("Content-Security-Policy", CSP), ("X-Frame-Options", ""))

    (tmp_path / "sitedeploy.toml").write_text(
        '[preview]\nport = 9000\n[headers]\nCache-Control = "no-store"\n'
        'X-Frame-Options = "DENY"\nx-frame-options = ""\nX-Var = "$uri"\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    message = raised.value.format_message()
    assert "sitedeploy.toml:4: [headers] Cache-Control is set by nginx" in message
    assert "sitedeploy.toml:6: [headers] x-frame-options is already set as X-Frame-Options" in (
        message
    )
    assert "sitedeploy.toml:7: [headers] the value of X-Var" in message


def test_dockerfile_carries_the_site_conf_only_when_the_site_sets_headers() -> None:
    plain = render(buildkit=True)
    assert "security-headers.conf" not in plain.split("AS pack", 1)[1]

    conf = render_conf(site_headers((("Content-Security-Policy", CSP),)))
    text = render(buildkit=True, headers_conf=conf)
    encoded = re.search(r"echo (\S+) \| base64 -d > /srv/conf/security-headers.conf", text)
    assert encoded and base64.b64decode(encoded.group(1)).decode() == conf
    nginx_stage = text.split("AS nginx", 1)[1]
    assert (
        "COPY --from=pack /srv/conf/security-headers.conf /etc/nginx/security-headers.conf"
        in nginx_stage
    )
    assert "${" not in text
