import pytest

from deployer.debian import debian_suite


@pytest.mark.parametrize(
    ("reference", "suite"),
    [
        ("debian:bookworm-slim", "bookworm"),
        ("debian:bookworm", "bookworm"),
        ("debian:12-slim", "bookworm"),
        ("debian:12.5", "bookworm"),
        ("docker.io/library/debian:trixie-20260101-slim", "trixie"),
        ("ruby:3.3", None),
        ("example.com/debian:bookworm", None),
    ],
)
def test_debian_suite(reference: str, suite: str | None) -> None:
    assert debian_suite(reference) == suite
