from pathlib import Path

import pytest

from deployer.config import BuildEngine, GemsChoice, SiteConfig, load_config, site_file
from deployer.config_checks import is_image_reference
from deployer.errors import ConfigError


def write(folder: Path, text: str) -> Path:
    (folder / "sitedeploy.toml").write_text(text)
    return folder


def test_defaults_without_a_file(tmp_path: Path) -> None:
    assert load_config(tmp_path) == SiteConfig()


def test_file_values_are_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        'name = "blog"\n[images]\nbuilder = "debian:bookworm"\n'
        '[build]\nengine = "classic"\njekyll_config = ["_config.yml", "_prod.yml"]\n'
        'packages = ["ruby-jekyll-toc"]\n[preview]\nport = 9000\nhost = "0.0.0.0"\n',
    )
    config = load_config(tmp_path)
    assert config.name == "blog"
    assert config.builder_image == "debian:bookworm"
    assert config.engine is BuildEngine.CLASSIC
    assert config.jekyll_config == ("_config.yml", "_prod.yml")
    assert config.packages == ("ruby-jekyll-toc",)
    assert (config.host, config.port) == ("0.0.0.0", 9000)


def test_flags_override_the_file_and_none_means_unset(tmp_path: Path) -> None:
    write(tmp_path, "[preview]\nport = 9000\nhost = '127.0.0.2'\n")
    config = load_config(tmp_path, {"port": 9100, "host": None})
    assert config.port == 9100
    assert config.host == "127.0.0.2"


def test_every_problem_is_reported_at_once_with_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '# settings\n[preview]\nport = 70000\nhots = "x"\n[imagez]\nbuilder = "x"\n'
        '[images]\nnginx = "Not An Image!"\n',
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = raised.value.format_message()
    assert f"{tmp_path}/sitedeploy.toml:3: [preview] port: expected a port number" in message
    assert "sitedeploy.toml:4: unknown key [preview] hots (did you mean [preview] host?)" in message
    assert "sitedeploy.toml:5: unknown section [imagez] (did you mean [images]?)" in message
    assert "sitedeploy.toml:8: [images] nginx: expected an image reference" in message
    assert message.endswith("Fix these and run again.")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, "[preview\nport = 1\n")
    with pytest.raises(ConfigError, match=r"sitedeploy\.toml: not valid TOML"):
        load_config(tmp_path)


def test_bad_flag_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--port: expected a port number from 1 to 65535"):
        load_config(tmp_path, {"port": 0})
    with pytest.raises(ConfigError, match=r"--host: expected an IP address"):
        load_config(tmp_path, {"host": "localhost:80"})
    with pytest.raises(ConfigError, match=r"--builder-image: expected an image reference"):
        load_config(tmp_path, {"builder_image": "UPPER:case"})


def test_wrong_types(tmp_path: Path) -> None:
    write(tmp_path, "[preview]\nport = true\n[build]\npackages = 'jekyll'\n")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    assert "port: expected a port number from 1 to 65535, got True" in raised.value.message
    assert "packages: expected a list of Debian package names" in raised.value.message


@pytest.mark.parametrize(
    "reference",
    [
        "debian:bookworm-slim",
        "debian",
        "docker.io/library/debian:12",
        "localhost:5000/team/blog:v1.2",
        "registry.example.com/a/b@sha256:" + "a" * 64,
    ],
)
def test_image_references_accepted(reference: str) -> None:
    assert is_image_reference(reference)


@pytest.mark.parametrize("reference", ["", "Debian:12", "debian:", "a b", "debian:bad tag"])
def test_image_references_refused(reference: str) -> None:
    assert not is_image_reference(reference)


def test_gem_settings(tmp_path: Path) -> None:
    (tmp_path / "sitedeploy.toml").write_text(
        '[build]\ngems = "bundler"\ngem_mirror = "http://127.0.0.1:9292"\n'
        'skip_plugins = ["jemoji"]\n[images]\nruby = "ruby:3.3-slim"\n'
    )
    config = load_config(tmp_path)
    assert config.gems is GemsChoice.BUNDLER
    assert (config.gem_mirror, config.skip_plugins) == ("http://127.0.0.1:9292", ("jemoji",))
    assert config.ruby_image == "ruby:3.3-slim"
    (tmp_path / "sitedeploy.toml").write_text(
        '[build]\ngems = "maybe"\ngem_mirror = "https://me:pw@gems.example.com"\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    lines = raised.value.message.splitlines()
    assert lines[0].endswith("[build] gems: expected one of auto, bundler, debian, got 'maybe'")
    assert "me:pw" not in raised.value.message  # never repeated back
    assert "with credentials is refused" in lines[1]


def test_csp_settings_are_read_and_every_bad_one_reported_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "sitedeploy.toml").write_text(
        '[csp]\nmode = "derived"\n'
        'allow = { connect-src = ["https://api.example.com"], script-src = ["\'sha256-abc=\'"] }\n'
        '[csp.companions]\n"cdn.example.org" = { font-src = ["https://fonts.example.org"] }\n'
    )
    config = load_config(tmp_path)
    assert config.csp.derive
    assert config.csp.allow == (
        ("connect-src", ("https://api.example.com",)),
        ("script-src", ("'sha256-abc='",)),
    )
    assert config.csp.companions == (
        ("cdn.example.org", (("font-src", ("https://fonts.example.org",)),)),
    )

    (tmp_path / "sitedeploy.toml").write_text(
        '[csp]\nmode = "loose"\n'
        'allow = { script-src = ["\'unsafe-inline\'", "https://*.cdn.example"], '
        'scrpt-src = ["https://a.example"], img-src = ["a b"] }\n'
        "typo = 1\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    message = raised.value.format_message()
    assert "sitedeploy.toml:2: [csp] mode: expected one of derived, strict, got 'loose'" in message
    assert "[csp] allow script-src: 'unsafe-inline' is refused for scripts" in message
    assert "[csp] allow script-src: https://*.cdn.example is refused for scripts" in message
    assert "'scrpt-src' is not a Content-Security-Policy directive (did you mean script-src?)" in (
        message
    )
    assert "[csp] allow img-src: 'a b' is not a source expression" in message
    assert "sitedeploy.toml:4: unknown key [csp] typo" in message


def test_a_site_cannot_both_set_its_policy_and_derive_one(tmp_path: Path) -> None:
    (tmp_path / "sitedeploy.toml").write_text(
        '[csp]\nmode = "strict"\n[headers]\nContent-Security-Policy = "default-src \'self\'"\n'
    )
    with pytest.raises(ConfigError, match="keep one of them"):
        load_config(tmp_path)


def test_companions_of_the_wrong_type_say_so_and_suggest_nothing(tmp_path: Path) -> None:
    (tmp_path / "sitedeploy.toml").write_text('[csp]\ncompanions = ["cdn.example.org"]\n')
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    message = raised.value.format_message()
    assert (
        "sitedeploy.toml:2: [csp] companions: expected a table of host = "
        "{directive = [sources]}, got ['cdn.example.org']"
    ) in message
    assert "did you mean" not in message and "unknown key" not in message


def test_a_misspelt_csp_key_is_named_with_the_nearest_one(tmp_path: Path) -> None:
    (tmp_path / "sitedeploy.toml").write_text("[csp]\ncompanion = {}\n")
    with pytest.raises(
        ConfigError, match=r"unknown key \[csp\] companion \(did you mean companions\?\)"
    ):
        load_config(tmp_path)


def test_a_deploy_host_key_names_server_and_bind(tmp_path: Path) -> None:
    path = write(tmp_path, '[deploy]\nhost = "ssh://root@203.0.113.7"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    expected = "unknown key [deploy] host (the server: [deploy] server; its address: bind)"
    assert f"sitedeploy.toml:2: {expected}" in raised.value.format_message()


def test_a_file_a_setting_names_is_found_from_the_site_folder(tmp_path: Path) -> None:
    assert site_file(tmp_path, "keys/cosign.pub") == tmp_path / "keys" / "cosign.pub"
    assert site_file(tmp_path, "/etc/cosign.pub") == Path("/etc/cosign.pub")
    assert site_file(tmp_path, None) is None
