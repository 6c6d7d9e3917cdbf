from deployer.image.bootstrap import sources


def test_bootstrap_sources() -> None:
    assert sources("bookworm", "http://deb.debian.org/debian") == [
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    ]
    assert sources("sid", "http://mirror/debian") == ["deb http://mirror/debian sid main"]
