"""A site's `[headers]`: read from sitedeploy.toml, merged over the runtime's defaults, and
rendered into the site's Dockerfile only when set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deployer.config import SiteConfig, load_config
from deployer.csp.derive import SitePolicy
from deployer.errors import ConfigError
from deployer.headers import (
    SITE_CONF,
    SITE_CSP_CONF,
    default_headers,
    header_problem,
    render_conf,
    render_csp_conf,
    site_headers,
    strict_policy,
)
from deployer.image.site_nginx import site_nginx_files
from tests.unit.image.test_dockerfile import render

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
    assert found == {k: v for k, v in headers.items() if k != "Content-Security-Policy"}
    # The policy's value is the page's, from csp.conf's map.
    assert "add_header Content-Security-Policy $sitedeploy_csp always;" in conf


def test_a_site_that_sets_its_own_policy_gets_exactly_it_on_every_response() -> None:
    config = SiteConfig(headers=(("Content-Security-Policy", CSP), ("X-Frame-Options", "")))
    policy = SitePolicy("own", CSP)
    files, skipped = site_nginx_files(config, policy)
    assert skipped == []
    assert 'default "' + CSP + '";' in files[SITE_CSP_CONF]
    assert "X-Frame-Options" not in files[SITE_CONF]
    # A strict policy and no [headers]: the runtime's files serve the site as they are.
    assert site_nginx_files(SiteConfig(), SitePolicy("strict", strict_policy())) == ({}, [])


def test_csp_conf_maps_each_page_and_merges_paths_nginx_cannot_tell_apart() -> None:
    pages = {
        "/a.html": "script-src 'self' https://a.example",
        "/A.html": "script-src 'self' https://b.example",
        '/q"uote.html': "script-src 'self' https://c.example",
        "/" + "長" * 40 + ".html": "script-src 'self' https://d.example",
    }
    conf, skipped = render_csp_conf("default-src 'self'", pages)
    assert skipped == ['/q"uote.html']
    assert '"/a.html" "script-src \'self\' https://b.example https://a.example";' in conf or (
        '"/A.html" "script-src \'self\' https://a.example https://b.example";' in conf
    )
    assert conf.count("https://a.example") == 1
    assert "map_hash_bucket_size 256;" in conf  # 40 CJK characters are 120 bytes


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


def test_dockerfile_copies_the_site_nginx_files_only_when_it_has_some() -> None:
    plain = render(buildkit=True)
    assert "/etc/nginx" not in plain.split("AS nginx", 1)[1]

    text = render(buildkit=True, site_conf_image="sitedeploy/blog-conf:0123456789ab")
    nginx_stage = text.split("AS nginx", 1)[1]
    assert "COPY --from=sitedeploy/blog-conf:0123456789ab /etc/nginx/ /etc/nginx/" in nginx_stage
    # The stages before it are the same text, so a build reuses them.
    assert text.split("AS nginx", 1)[0] == plain.split("AS nginx", 1)[0]
    assert "${" not in text
