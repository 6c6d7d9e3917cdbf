import json
from pathlib import Path

import pytest

from deployer.errors import RegistryError
from deployer.labels import Label
from deployer.platforms import ARM64
from deployer.provenance.sbom import files_from_labels, platform_labels
from deployer.ship.platform_index import RuntimeParts, _as_oci, _composed_config

RUNTIME_STEPS = ["COPY --from=nginx-build /rootfs/ / # buildkit", "USER 101:101"]


def _files(*rows: tuple[str, str, str, str]) -> str:
    return json.dumps([list(row) for row in rows])


NATIVE_RUNTIME: dict[str, str] = {
    Label.ROLE: "runtime",
    Label.PLATFORM: "linux/amd64",
    Label.SBOM_FILES: _files(
        ("/usr/sbin/nginx", "aa", "nginx", "1.22"),
        ("/etc/nginx/security-headers.conf", "h1", "sitedeploy", "-"),
    ),
    Label.SBOM_PACKAGES: "nginx=1.22",
}
ARM_RUNTIME: dict[str, str] = {
    Label.ROLE: "runtime",
    Label.PLATFORM: "linux/arm64",
    Label.SBOM_FILES: _files(
        ("/usr/sbin/nginx", "bb", "nginx", "1.22"),
        ("/lib/aarch64-linux-gnu/libc.so.6", "cc", "libc6", "2.36"),
        ("/etc/nginx/security-headers.conf", "h1", "sitedeploy", "-"),
    ),
    Label.SBOM_PACKAGES: "libc6=2.36 nginx=1.22",
}


def _site_labels() -> dict[str, str]:
    """A site image on the amd64 runtime, with its own security headers file."""
    return {
        **NATIVE_RUNTIME,
        Label.ROLE: "site",
        Label.RUNTIME: "sha256:native-runtime",
        Label.CONTENT_HASH: "c0ffee",
        Label.SBOM_FILES: _files(
            ("/usr/sbin/nginx", "aa", "nginx", "1.22"),
            ("/etc/nginx/security-headers.conf", "h2", "sitedeploy", "-"),
        ),
    }


def test_labels_on_another_cpu_name_its_runtime_and_keep_the_sites_own_files() -> None:
    labels = platform_labels(_site_labels(), NATIVE_RUNTIME, ARM_RUNTIME, "sha256:arm")
    assert labels[Label.ROLE] == "site" and labels[Label.CONTENT_HASH] == "c0ffee"
    assert labels[Label.PLATFORM] == "linux/arm64"
    assert labels[Label.RUNTIME] == "sha256:arm"
    assert labels[Label.SBOM_PACKAGES] == "libc6=2.36 nginx=1.22"
    files = {f.path: f.sha256 for f in files_from_labels(labels)}
    assert files == {
        "/usr/sbin/nginx": "bb",
        "/lib/aarch64-linux-gnu/libc.so.6": "cc",
        "/etc/nginx/security-headers.conf": "h2",  # the site's, not either runtime's
    }


def _native_config(steps: list[str] = RUNTIME_STEPS) -> dict[str, object]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "101:101", "Labels": _site_labels()},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:rt-amd64", "sha256:www", "sha256:err"]},
        "history": [{"created_by": step} for step in steps]
        + [{"created_by": "COPY --from=pack /srv/www /srv/www"}],
    }


def _arm_runtime(steps: list[str] = RUNTIME_STEPS) -> RuntimeParts:
    config = {
        "architecture": "amd64",  # the engine files it as its own CPU's
        "config": {"Labels": ARM_RUNTIME},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:rt-arm64"]},
        "history": [{"created_by": step, "created": "then"} for step in steps],
    }
    return RuntimeParts("sha256:arm", config, (Path("/nowhere.tar.gz"),))


def test_another_cpus_config_is_the_site_image_on_that_runtime() -> None:
    config = _composed_config(_native_config(), _arm_runtime(), NATIVE_RUNTIME, ARM64)
    assert (config["architecture"], config["os"], config["variant"]) == ("arm64", "linux", "v8")
    assert config["rootfs"]["diff_ids"] == ["sha256:rt-arm64", "sha256:www", "sha256:err"]
    assert [h["created_by"] for h in config["history"]] == [
        *RUNTIME_STEPS,
        "COPY --from=pack /srv/www /srv/www",
    ]
    assert config["config"]["User"] == "101:101"
    assert config["config"]["Labels"][Label.PLATFORM] == "linux/arm64"


def test_the_classic_builders_copy_digests_are_not_the_recipe() -> None:
    """The classic builder and Podman name what a COPY copied by its digest: each CPU's
    runtime copies its own files, from the same recipe."""
    copied = "/bin/sh -c #(nop) COPY dir:{} in / "
    native = _native_config([copied.format("a" * 64), "USER 101:101"])
    arm = _arm_runtime([copied.format("b" * 64), "USER 101:101"])
    config = _composed_config(native, arm, NATIVE_RUNTIME, ARM64)
    assert config["history"][0]["created_by"] == copied.format("b" * 64)


def test_build_labels_are_not_the_recipe() -> None:
    """Each CPU's build labels say which CPU it is; Podman 5 records them in a step of its
    own, in no fixed order. A LABEL step is not compared; every other one is."""
    native = _native_config(["USER 101:101", '/bin/sh -c #(nop) LABEL "a"="amd64" "b"="1"'])
    arm = _arm_runtime(["USER 101:101", '/bin/sh -c #(nop) LABEL "b"="1" "a"="arm64"'])
    config = _composed_config(native, arm, NATIVE_RUNTIME, ARM64)
    assert config["history"][1]["created_by"].endswith('"a"="arm64"')
    with pytest.raises(RegistryError, match="recipe differs"):
        _composed_config(native, _arm_runtime(["USER 0", "LABEL a=arm64"]), NATIVE_RUNTIME, ARM64)


def test_a_runtime_of_another_recipe_is_refused() -> None:
    with pytest.raises(RegistryError, match="linux/arm64 runtime's recipe differs"):
        _composed_config(
            _native_config(), _arm_runtime(["COPY x /", "USER 0"]), NATIVE_RUNTIME, ARM64
        )


def test_a_pushed_manifest_becomes_an_oci_manifest_of_the_same_blobs() -> None:
    pushed = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": "sha256:c", "size": 3},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": "sha256:l", "size": 9}],
    }  # fmt: skip
    oci = _as_oci(pushed)
    assert oci["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert oci["config"] == {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": "sha256:c",
        "size": 3,
    }
    assert oci["layers"][0]["digest"] == "sha256:l"
    assert oci["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
