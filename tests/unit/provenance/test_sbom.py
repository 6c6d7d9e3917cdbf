import json
from pathlib import Path

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from deployer.built_site import BuiltFile, BuiltSite
from deployer.provenance.sbom import (
    cyclonedx,
    files_from_labels,
    parse_manifest,
    runtime_labels,
    site_digest,
)

MANIFEST = (
    "/usr/sbin/nginx\t" + "a" * 64 + "\tnginx\t1.22.1-9+deb12u11\n"
    "/lib/x86_64-linux-gnu/libc.so.6\t" + "b" * 64 + "\tlibc6\t2.36-9+deb12u14\n"
    "/etc/nginx/nginx.conf\t" + "c" * 64 + "\tsitedeploy\t-\n"
)


def test_manifest_round_trips_through_labels() -> None:
    files = parse_manifest(MANIFEST)
    labels = runtime_labels(files)
    assert labels["io.sitedeploy.sbom.packages"] == "libc6=2.36-9+deb12u14 nginx=1.22.1-9+deb12u11"
    assert files_from_labels(labels) == files


def test_site_digest_depends_on_paths_and_bytes_only(tmp_path: Path) -> None:
    one = BuiltSite(tmp_path, (BuiltFile("a.html", 3, "1" * 64), BuiltFile("b.css", 4, "2" * 64)))
    same = BuiltSite(
        tmp_path / "x", (BuiltFile("a.html", 3, "1" * 64), BuiltFile("b.css", 4, "2" * 64))
    )
    other = BuiltSite(tmp_path, (BuiltFile("a.html", 3, "9" * 64), BuiltFile("b.css", 4, "2" * 64)))
    assert site_digest(one.files) == site_digest(same.files) != site_digest(other.files)
    assert site_digest(reversed(one.files)) == site_digest(one.files)  # order does not matter


def test_cyclonedx_document_is_valid_and_names_every_package() -> None:
    labels = {
        **runtime_labels(parse_manifest(MANIFEST)),
        "io.sitedeploy.site.files": "11",
        "io.sitedeploy.site.bytes": "78700",
        "io.sitedeploy.site.sha256": "d" * 64,
        "io.sitedeploy.content-hash": "e" * 64,
        "org.opencontainers.image.title": "blog",
    }
    text = cyclonedx("sitedeploy/blog:latest", "sha256:" + "f" * 64, labels, "bookworm")
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    document = json.loads(text)
    components = {c["name"]: c for c in document["components"]}
    assert (
        components["nginx"]["purl"]
        == "pkg:deb/debian/nginx@1.22.1-9%2Bdeb12u11?distro=debian-bookworm"
    )
    assert components["libc6"]["evidence"]["occurrences"] == [
        {"location": "/lib/x86_64-linux-gnu/libc.so.6"}
    ]
    assert components["site blog"]["hashes"] == [{"alg": "SHA-256", "content": "d" * 64}]


def test_a_rebuilt_runtime_is_compared_file_by_file() -> None:
    from deployer.provenance.sbom import ShippedFile, runtime_differences

    nginx = ShippedFile("/usr/sbin/nginx", "aa" * 32, "nginx", "1.22.1-9+deb12u1")
    libc = ShippedFile("/lib/aarch64-linux-gnu/libc.so.6", "cc" * 32, "libc6", "2.36-9")
    newer = ShippedFile("/usr/sbin/nginx", "bb" * 32, "nginx", "1.22.1-9+deb12u2")
    assert runtime_differences([nginx, libc], [nginx, libc]) == []
    assert runtime_differences([nginx, libc], [newer]) == [
        "/lib/aarch64-linux-gnu/libc.so.6: only in the runtime",
        "/usr/sbin/nginx: nginx 1.22.1-9+deb12u1 sha256 aaaaaaaaaaaa in the runtime, "
        "nginx 1.22.1-9+deb12u2 sha256 bbbbbbbbbbbb rebuilt",
    ]
