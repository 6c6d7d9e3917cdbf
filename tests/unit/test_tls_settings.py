"""[tls] and its flags: each key on its own, then the keys together, every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.config import load_config
from deployer.errors import ConfigError
from deployer.tls_settings import HSTS_SECONDS, LETS_ENCRYPT


def _site(tmp_path: Path, tls: str) -> Path:
    (tmp_path / "sitedeploy.toml").write_text(f"[tls]\n{tls}")
    return tmp_path


def test_acme_settings_and_their_defaults(tmp_path: Path) -> None:
    config = load_config(
        _site(
            tmp_path, 'domains = ["example.com", "www.example.com"]\nacme_email = "a@example.com"\n'
        )
    )
    tls = config.tls
    assert tls.enabled and tls.acme and tls.domains == ("example.com", "www.example.com")
    assert tls.acme_directory == LETS_ENCRYPT and tls.https_port is None
    assert tls.hsts_header() == f"max-age={HSTS_SECONDS}"


def test_nothing_set_is_plain_http(tmp_path: Path) -> None:
    assert not load_config(tmp_path).tls.enabled


@pytest.mark.parametrize(
    ("hsts", "header"),
    [
        ("false", None),
        ("0", None),
        ("86400", "max-age=86400"),
        ('"preload"', "max-age=63072000; includeSubDomains; preload"),
    ],
)
def test_hsts(tmp_path: Path, hsts: str, header: str | None) -> None:
    tls = 'domains = ["example.com"]\nacme_email = "a@example.com"\n'
    assert load_config(_site(tmp_path, f"{tls}hsts = {hsts}\n")).tls.hsts_header() == header


def test_flags_override_the_file(tmp_path: Path) -> None:
    folder = _site(tmp_path, 'domains = ["example.com"]\nacme_email = "a@example.com"\n')
    tls = load_config(folder, {"tls": {"domains": ["other.example"], "hsts": False}}).tls
    assert tls.domains == ("other.example",) and tls.hsts_header() is None


@pytest.mark.parametrize(
    ("tls", "said"),
    [
        ('domains = ["Example.com"]\nacme_email = "a@b.c"\n', "expected a host name"),
        ('domains = ["example.com"]\n', "without [tls] acme_email"),
        ('acme_email = "a@b.c"\n', "without [tls] domains"),
        ('domains = ["*.example.com"]\nacme_email = "a@b.c"\n', "needs a DNS challenge"),
        ('domains = ["a.example", "a.example"]\nacme_email = "a@b.c"\n', "listed twice"),
        ('domains = ["a.example"]\nacme_email = "a@b.c"\ncanonical = "b.example"\n', "not one of"),
        (
            'domains = ["a.example"]\nacme_email = "a@b.c"\nacme_directory = "http://x/d"\n',
            "https://",
        ),
        ('cert = "missing.pem"\nkey = "missing.key"\n', "is not a file"),
        ('hsts = "yes"\ndomains = ["a.example"]\nacme_email = "a@b.c"\n', "a max-age in seconds"),
        ('domain = ["a.example"]\n', "did you mean"),
    ],
)
def test_each_problem_names_the_file_line_and_fix(tmp_path: Path, tls: str, said: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_site(tmp_path, tls))
    assert said in raised.value.message
    assert "sitedeploy.toml" in raised.value.message


def test_a_certificate_comes_with_its_key_and_not_with_acme(tmp_path: Path) -> None:
    (tmp_path / "site.crt").write_text("x")
    (tmp_path / "site.key").write_text("x")
    with pytest.raises(ConfigError) as raised:
        load_config(_site(tmp_path, 'cert = "site.crt"\n'))
    assert "set both" in raised.value.message
    with pytest.raises(ConfigError) as raised:
        load_config(_site(tmp_path, 'cert = "site.crt"\nkey = "site.key"\nacme_email = "a@b.c"\n'))
    assert "remove one of them" in raised.value.message
    given = load_config(_site(tmp_path, 'cert = "site.crt"\nkey = "site.key"\n')).tls
    assert given.enabled and not given.acme and given.cert == tmp_path / "site.crt"


def test_a_flag_problem_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, {"tls": {"acme_email": "nobody"}})
    assert "--acme-email" in raised.value.message
