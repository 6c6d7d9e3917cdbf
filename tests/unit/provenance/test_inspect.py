import json

import pytest

from deployer.provenance.inspect import runtime_suite
from deployer.provenance.sbom import cyclonedx, parse_manifest, runtime_labels
from tests.unit.provenance.test_sbom import MANIFEST


@pytest.mark.parametrize(
    ("labels", "suite"),
    [
        # Bootstrapped here: the suite the root filesystem was made of.
        (
            {
                "io.sitedeploy.nginx-base": "debian:bookworm-slim sha256:1",
                "io.sitedeploy.nginx-base.suite": "bookworm",
            },
            "bookworm",
        ),
        # Pulled: the suite its official reference names, never a default.
        ({"io.sitedeploy.nginx-base": "debian:trixie-slim sha256:1"}, "trixie"),
        ({"io.sitedeploy.nginx-base": "debian:11 sha256:1"}, "bullseye"),
        # Not a Debian reference, or no label at all: unknown.
        ({"io.sitedeploy.nginx-base": "example.com/nginx-base:1 sha256:1"}, None),
        ({}, None),
    ],
)
def test_runtime_suite_comes_from_the_labels(labels: dict[str, str], suite: str | None) -> None:
    assert runtime_suite(labels) == suite


def test_an_unknown_suite_is_not_claimed_in_the_sbom() -> None:
    labels = runtime_labels(parse_manifest(MANIFEST))
    document = json.loads(cyclonedx("x:1", "sha256:" + "0" * 64, labels, None))
    purls = [c["purl"] for c in document["components"] if "purl" in c]
    assert purls and all("distro=" not in purl for purl in purls)
    known = json.loads(cyclonedx("x:1", "sha256:" + "0" * 64, labels, "trixie"))
    assert all("distro=debian-trixie" in c["purl"] for c in known["components"] if "purl" in c)
