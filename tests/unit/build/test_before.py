import json
from pathlib import Path

import pytest

from deployer.build.before import before_secrets, npm_warnings
from deployer.config import SiteConfig
from deployer.errors import ConfigError


def test_a_package_json_build_that_nothing_runs_is_named(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(
        json.dumps({"scripts": {"build": "tailwindcss -o x.css"}})
    )
    warned = npm_warnings(tmp_path, SiteConfig())
    assert len(warned) == 1 and "'tailwindcss -o x.css'" in warned[0]
    assert '[build] before = "npm ci && npm run build"' in warned[0]
    assert npm_warnings(tmp_path, SiteConfig(before="npm ci && npm run build")) == []
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"test": "x"}}))
    assert npm_warnings(tmp_path, SiteConfig()) == []


def test_the_ca_bundle_is_a_secret_only_when_something_runs_before(tmp_path: Path) -> None:
    assert before_secrets(SiteConfig()) == {}
    bundle = tmp_path / "proxy-ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert before_secrets(SiteConfig(before="npm ci", ca_bundle=str(bundle))) == {
        "sitedeploy-ca": str(bundle)
    }
    with pytest.raises(ConfigError, match=r"\[build\] ca_bundle: /nonexistent is not a file"):
        before_secrets(SiteConfig(before="npm ci", ca_bundle="/nonexistent"))
