"""Signed images in a real registry, checked by an independent verifier — cosign itself
(Debian trixie's; bookworm's skopeo would be the other, but Debian patched its sigstore
support out: "Debian-local change: sigstore disabled") — and by `sitedeploy verify`. An
unsigned image, one signed by another key and one carrying a signature copied from
another image are refused by both; cosign reads the key file `keys new` writes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from deployer.engine import Engine
from deployer.ship.host import remove_host
from deployer.ship.registry import OCI_MANIFEST, Registry
from deployer.ship.signatures import signature_tag
from deployer.site import open_site
from tests.conftest import SiteFactory, free_port
from tests.registry import RunningRegistry, start_registry
from tests.running import cli

pytestmark = pytest.mark.engine

PASSWORD = "correct horse battery staple"
ENV = {"SITEDEPLOY_SIGNING_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry(tmp_path_factory.mktemp("signing-registry"))
    yield running
    running.close()


COSIGN = Path("/var/cache/sitedeploy-tests/cosign/usr/bin/cosign")  # scripts/setup --tests


def _cosign(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """cosign (Debian trixie's 2.5, the tool clusters' policies are modelled on) against
    the test's plain-HTTP registry, without a transparency log (none here)."""
    return subprocess.run(
        [str(COSIGN), command, "--insecure-ignore-tlog=true", "--allow-http-registry",
         "--allow-insecure-registry", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _cosign_accepts(image: str, public: Path) -> bool:
    """Does cosign find a signature by `public` for `image`?"""
    return _cosign("verify", "--key", str(public), image).returncode == 0


def _publish(folder: Path, registry: RunningRegistry, *flags: str) -> dict[str, Any]:
    done = cli(
        "publish", str(folder), "--registry", registry.host, "--repository", "team/signed",
        "--json", *flags, env=ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def test_signed_images_verify_and_unsigned_swapped_or_foreign_ones_do_not(
    registry: RunningRegistry, make_site: SiteFactory, tmp_path: Path
) -> None:
    made = cli("keys", "new", "--out", str(tmp_path / "cosign"), env=ENV)
    assert made.returncode == 0, made.stderr
    private, public = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    assert private.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in made.stdout + made.stderr + private.read_text()
    # cosign opens the key file as its own: the same public key comes out of it.
    derived = subprocess.run(
        [str(COSIGN), "public-key", "--key", str(private)], capture_output=True, text=True,
        timeout=60, check=False, env={**os.environ, "COSIGN_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert derived.returncode == 0, derived.stderr
    assert derived.stdout.strip() == public.read_text().strip()
    again = cli("keys", "new", "--out", str(tmp_path / "cosign"), env=ENV)
    assert again.returncode == 1 and "already exists" in again.stderr

    folder = make_site("signed")
    no_key = cli(
        "publish", str(folder), "--registry", registry.host, "--repository", "team/signed",
        "--sign",
    )  # fmt: skip
    assert no_key.returncode == 1 and "needs a key" in no_key.stderr
    assert registry_tags(registry) == []  # nothing was pushed

    signed = _publish(folder, registry, "--sign", "--signing-key", str(private))
    image = f"{registry.host}/team/signed@{signed['digest']}"
    signature = signed["signature"]
    assert isinstance(signature, dict)
    assert signature["reference"].endswith(signature_tag(str(signed["digest"])))
    assert _cosign_accepts(image, public)
    verified = cli("verify", image, "--key", str(public), "--json")
    assert verified.returncode == 0, verified.stderr
    shown = json.loads(verified.stdout)
    assert shown["signatures"] == 1
    assert shown["attestations"] == ["https://cyclonedx.org/bom", "https://slsa.dev/provenance/v1"]
    # cosign checks the attestations too: the SBOM lists the runtime's Debian packages.
    for kind in ("cyclonedx", "slsaprovenance1"):
        attested = _cosign("verify-attestation", "--type", kind, "--key", str(public), image)
        assert attested.returncode == 0, attested.stderr
    sbom_statement = _cosign(
        "verify-attestation", "--type", "cyclonedx", "--key", str(public), image
    ).stdout.splitlines()[0]
    envelope = json.loads(sbom_statement)
    bom = json.loads(base64.b64decode(envelope["payload"]))["predicate"]
    assert any(c.get("name") == "nginx" for c in bom["components"]), bom["components"][:3]
    # The image is an index for amd64 and arm64: each platform's image is signed too, and
    # its SBOM names its own CPU's packages.
    platforms = {p["platform"]: p["digest"] for p in signed["platforms"]}
    assert sorted(platforms) == ["linux/amd64", "linux/arm64"]
    for name, digest in platforms.items():
        one = f"{registry.host}/team/signed@{digest}"
        assert _cosign_accepts(one, public), name
        statement = _cosign(
            "verify-attestation", "--type", "cyclonedx", "--key", str(public), one
        ).stdout.splitlines()[0]
        components = json.loads(base64.b64decode(json.loads(statement)["payload"]))["predicate"]
        arch = name.split("/")[1]
        assert any(f"arch={arch}" in c.get("purl", "") for c in components["components"]), name
    # Signing the same digest again replaces our own signature (no pile of them).
    _publish(folder, registry, "--sign", "--signing-key", str(private))
    assert (
        json.loads(cli("verify", image, "--key", str(public), "--json").stdout)["signatures"] == 1
    )

    # Another key's public half: refused by both.
    cli("keys", "new", "--out", str(tmp_path / "other"), env=ENV)
    assert not _cosign_accepts(image, tmp_path / "other.pub")
    foreign = cli("verify", image, "--key", str(tmp_path / "other.pub"))
    assert foreign.returncode == 1 and "not by" in foreign.stderr

    # A new version, published unsigned: refused.
    (folder / "index.md").write_text("---\nlayout: home\n---\n\nUNSIGNED\n")
    unsigned = _publish(folder, registry, "--no-sign")
    other = f"{registry.host}/team/signed@{unsigned['digest']}"
    assert not _cosign_accepts(other, public)
    said = cli("verify", other, "--key", str(public))
    assert said.returncode == 1 and "is not signed" in said.stderr

    # The first image's signature copied beside the second one: it names another digest.
    remote = Registry(registry.host, None)
    _digest, manifest = remote.manifest("team/signed", signature_tag(str(signed["digest"])))
    remote.put_manifest(
        "team/signed", signature_tag(str(unsigned["digest"])), json.dumps(manifest).encode(),
        OCI_MANIFEST,
    )  # fmt: skip
    assert not _cosign_accepts(other, public)
    swapped = cli("verify", other, "--key", str(public))
    assert swapped.returncode == 1 and "not the image that was signed" in swapped.stderr
    assert "Traceback" not in swapped.stderr + said.stderr + foreign.stderr


def registry_tags(registry: RunningRegistry) -> list[str]:
    return Registry(registry.host, None).tags("team/signed")


def test_a_deploy_with_verify_key_runs_only_signed_images_and_keeps_the_old_one_otherwise(
    engine: Engine, registry: RunningRegistry, make_site: SiteFactory, tmp_path: Path
) -> None:
    assert cli("keys", "new", "--out", str(tmp_path / "cosign"), env=ENV).returncode == 0
    folder = make_site("verified")
    port = free_port()

    def configure(version: str, sign: bool) -> None:
        (folder / "index.md").write_text(f"---\nlayout: home\n---\n\nVERIFIED-{version}\n")
        (folder / "sitedeploy.toml").write_text(
            f'[publish]\nregistry = "{registry.host}"\nrepository = "team/verified"\n'
            f'sign = {"true" if sign else "false"}\nsigning_key = "{tmp_path / "cosign.key"}"\n\n'
            f'[deploy]\nbind = "127.0.0.1"\nport = {port}\n'
            f'verify_key = "{tmp_path / "cosign.pub"}"\n'
        )

    def served() -> str:
        return requests.get(f"http://127.0.0.1:{port}/", timeout=10).text

    try:
        configure("v1", sign=True)
        first = cli("deploy", str(folder), env=ENV)
        assert first.returncode == 0, first.stderr
        assert "VERIFIED-v1" in served()
        configure("v2", sign=False)
        refused = cli("deploy", str(folder), env=ENV)
        assert refused.returncode == 1
        assert "is not signed" in refused.stderr and "Traceback" not in refused.stderr
        assert "VERIFIED-v1" in served()  # nothing was rolled out
    finally:
        remove_host(engine, open_site(folder).live())


def test_a_missing_verify_key_is_said_before_anything_is_built(make_site: SiteFactory) -> None:
    folder = make_site("no-verify-key")
    said = cli("deploy", str(folder), "--verify-key", str(folder / "nowhere.pub"))
    assert said.returncode == 1 and "nowhere.pub is not a file" in said.stderr
    assert "Nothing was built or changed" in said.stderr and "Building" not in said.stderr
