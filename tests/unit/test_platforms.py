from pathlib import Path

import pytest

from deployer.config import load_config
from deployer.errors import ConfigError
from deployer.platforms import AMD64, ARM64, engine_platform, platform, platforms


def test_platform_names_and_what_debian_calls_them() -> None:
    assert platform("linux/arm64") is ARM64 and platform("linux/arm64/v8") is ARM64
    assert ARM64.as_oci() == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert AMD64.as_oci() == {"architecture": "amd64", "os": "linux"}
    assert (ARM64.debian_arch, ARM64.triplet) == ("arm64", "aarch64-linux-gnu")
    with pytest.raises(ConfigError, match=r"--platform: 'linux/riscv64' is not a platform"):
        platform("linux/riscv64")


def test_the_engines_own_cpu_comes_first_and_both_are_the_default() -> None:
    assert platforms((), AMD64, "x") == [AMD64, ARM64]
    assert platforms((), ARM64, "x") == [ARM64, AMD64]
    assert platforms(("linux/arm64", "linux/amd64", "linux/arm64"), AMD64, "x") == [AMD64, ARM64]
    assert platforms(("linux/arm64",), AMD64, "x") == [ARM64]
    assert engine_platform("x86_64") is AMD64 and engine_platform("aarch64") is ARM64
    with pytest.raises(ConfigError, match="runs on 's390x'"):
        engine_platform("s390x")


def test_publish_platforms_setting_is_checked_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "sitedeploy.toml").write_text('[publish]\nplatforms = ["linux/arm64"]\n')
    assert load_config(tmp_path).platforms == ("linux/arm64",)
    (tmp_path / "sitedeploy.toml").write_text('[publish]\nplatforms = ["linux/ppc64le"]\n')
    with pytest.raises(ConfigError, match=r"sitedeploy.toml:2: \[publish\] platforms: expected "):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match=r"--platform: expected one of linux/amd64, linux/arm64"):
        load_config(tmp_path / "nowhere", {"platforms": ["arm"]})
    with pytest.raises(ConfigError, match=r"--platform: expected one of .*'linux/amd64/v8'"):
        load_config(tmp_path / "nowhere", {"platforms": ["linux/amd64/v8"]})
