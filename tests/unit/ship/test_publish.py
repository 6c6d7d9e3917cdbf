import pytest

from deployer.config import SiteConfig
from deployer.errors import ConfigError
from deployer.ship.publish import PublishSettings, pushed_digest, validate_target


def test_target_comes_from_flags_then_the_config() -> None:
    config = SiteConfig(registry="localhost:5000", repository="team/blog")
    assert PublishSettings().target(config) == ("localhost:5000", "team/blog")
    flagged = PublishSettings(registry="r.example:443", repository="a/b")
    assert flagged.target(config) == ("r.example:443", "a/b")
    with pytest.raises(ConfigError, match=r"deploy --swarm needs --registry and --repository"):
        PublishSettings().target(SiteConfig(), "deploy --swarm")


def test_every_bad_part_of_a_target_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_target("http://x", "Team/Blog", ["ok", "bad tag"])
    lines = caught.value.message.splitlines()
    assert [line.split(":")[0] for line in lines] == ["--registry", "--repository", "--tag"]
    validate_target("localhost:5000", "team/blog", ["v1", "latest"])  # no error


def test_credentials_are_not_in_the_settings_repr() -> None:
    from deployer.ship.registry import Credentials

    settings = PublishSettings(credentials=Credentials("me", "s3cret"))
    assert "s3cret" not in repr(settings)


def test_the_pushed_digest_from_either_image_store() -> None:
    digest = "sha256:" + "ab" * 32
    classic = [{"Tag": "v1", "Digest": digest, "Size": 1234}]
    assert pushed_digest(classic, [f"v1: digest: {digest} size: 1234 "]) == digest
    # the containerd store says it only in the last status line
    assert pushed_digest([], ["abc: Pushed ", f"v1: digest: {digest} size: 425 "]) == digest
    assert pushed_digest([], ["abc: Pushed "]) is None
