import json
from pathlib import Path

import pytest

from deployer.config import SiteConfig
from deployer.errors import ConfigError
from deployer.image.before import npm_warning, unrun_npm_build
from deployer.image.gems import GemsPlan, GemsWay
from deployer.image.secrets import build_secrets


def test_a_package_json_build_that_nothing_runs_is_named(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(
        json.dumps({"scripts": {"build": "tailwindcss -o x.css"}})
    )
    script = unrun_npm_build(tmp_path, SiteConfig())
    assert script == "tailwindcss -o x.css"
    assert '[build] before = "npm ci && npm run build"' in npm_warning(script)
    named = npm_warning(script, ["http://h/assets/x.css", "http://h/search.json"])
    assert "nothing runs it: http://h/assets/x.css, http://h/search.json." in named
    assert unrun_npm_build(tmp_path, SiteConfig(before="npm ci && npm run build")) is None
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"test": "x"}}))
    assert unrun_npm_build(tmp_path, SiteConfig()) is None


DEBIAN = GemsPlan(GemsWay.DEBIAN, "Gems: Debian's packages")


def test_the_ca_bundle_is_a_secret_only_when_something_runs_before(tmp_path: Path) -> None:
    with build_secrets(SiteConfig(), DEBIAN) as secrets:
        assert secrets == {}
    bundle = tmp_path / "proxy-ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    with build_secrets(SiteConfig(before="npm ci", ca_bundle=str(bundle)), DEBIAN) as secrets:
        assert secrets == {"sitedeploy-ca": str(bundle)}
    with (
        pytest.raises(ConfigError, match=r"\[build\] ca_bundle: /nonexistent is not a file"),
        build_secrets(SiteConfig(before="npm ci", ca_bundle="/nonexistent"), DEBIAN),
    ):
        pass


def test_gem_source_credentials_are_a_file_only_the_build_sees(tmp_path: Path) -> None:
    plan = GemsPlan(
        GemsWay.BUNDLER, "Gems: Bundler", source="https://gems.example.com",
        credentials="BUNDLE_GEMS__EXAMPLE__COM=me:s3cret",
    )  # fmt: skip
    assert "s3cret" not in repr(plan)
    with build_secrets(SiteConfig(), plan) as secrets:
        path = Path(secrets["sitedeploy-bundle"])
        assert path.read_text() == "BUNDLE_GEMS__EXAMPLE__COM=me:s3cret\n"
        assert path.stat().st_mode & 0o777 == 0o600
    assert not path.exists()
