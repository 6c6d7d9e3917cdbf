import re

import pytest

from deployer.resources import docker_dir
from deployer.serving_rules import never_served


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".git/config",
        "a/.DS_Store",
        "index.html~",
        "notes.swp",
        "x.bak",
        "a/#b#",
        ".htaccess",
    ],
)
def test_never_served(path: str) -> None:
    assert never_served(path)


@pytest.mark.parametrize(
    "path", ["index.html", "about/index.html", ".well-known/security.txt", "a.b.c", "feed.xml"]
)
def test_served(path: str) -> None:
    assert not never_served(path)


def test_nginx_refuses_what_the_policy_never_serves() -> None:
    """nginx.conf's regex locations agree with policy.NEVER_SERVED."""
    conf = (docker_dir() / "runtime/conf/nginx.conf").read_text()
    patterns = [re.compile(m) for m in re.findall(r"location ~ (\S+) \{", conf)]
    assert len(patterns) == 2
    samples = ["/.env", "/a/.git/config", "/index.html~", "/x.swp", "/x.bak", "/x.orig"]
    for sample in samples:
        assert any(p.search(sample) for p in patterns), sample
    for allowed in ["/.well-known/security.txt", "/index.html", "/assets/main.css"]:
        assert not any(p.search(allowed) for p in patterns), allowed
