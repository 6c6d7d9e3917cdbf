import pytest

from deployer.errors import ConfigError
from deployer.platforms import AMD64, ARM64
from deployer.ship.transfer import check_streamable


def test_an_image_streams_only_to_a_server_of_the_same_cpu() -> None:
    check_streamable(AMD64, AMD64, "ssh://root@203.0.113.7")
    with pytest.raises(ConfigError) as refused:
        check_streamable(AMD64, ARM64, "ssh://root@203.0.113.7")
    said = refused.value.message
    assert "ssh://root@203.0.113.7 runs on linux/arm64" in said
    assert "builds linux/amd64 images" in said and "--registry/--repository" in said
    assert "Nothing was changed on the server." in said
