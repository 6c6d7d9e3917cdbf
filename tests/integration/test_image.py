"""The runtime image: small, shell-free, hardened, and serving the way it promises."""

from __future__ import annotations

import gzip
import http.client
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import brotli
import pytest
import requests
import urllib3
from docker.models.containers import Container

from bench.gen_site import generate
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.mime import served_types
from deployer.serve.preview import stop_preview
from deployer.serve.switch import UpResult
from deployer.site import Site
from deployer.waiting import wait_until
from tests.conftest import SiteFactory, planted
from tests.integration.conftest import deploy, served

pytestmark = pytest.mark.engine

Deployed = tuple[Site, SiteConfig, UpResult]
MB = 1_000_000


def test_final_image_minus_the_site_is_under_12_mb(starter: Deployed) -> None:
    _site, _config, result = starter
    assert result.images.runtime.size <= 12 * MB
    assert result.images.image.size - result.built.total_bytes <= 12 * MB


def _image_archive(engine: Engine, image: str, path: str) -> tarfile.TarFile:
    """`path` in `image` as a tar archive (in memory), read from a container never started."""
    container = engine.client.containers.create(image)
    try:
        chunks, _ = container.get_archive(path)
        data = b"".join(chunks)
    finally:
        container.remove()
    return tarfile.open(fileobj=io.BytesIO(data))


def _image_files(engine: Engine, image: str) -> set[str]:
    with _image_archive(engine, image, "/") as archive:
        return {member.name.removeprefix("/") for member in archive.getmembers()}


def test_runtime_has_no_shell_no_package_manager_only_nginx(
    engine: Engine, starter: Deployed
) -> None:
    _site, _config, result = starter
    files = _image_files(engine, result.images.image.tag)
    assert "usr/sbin/nginx" in files
    assert "usr/local/bin/healthcheck" in files
    assert {"etc/nginx/nginx.conf", "etc/nginx/mime.types", "etc/passwd", "etc/group"} <= files
    assert "etc/nginx/slot.conf" in files  # a preview server's (its socket slot)
    for absent in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/apt-get", "usr/bin/dpkg"):
        assert absent not in files
    assert not any(
        name.startswith(("var/lib/apt", "var/lib/dpkg", "var/cache/apt")) for name in files
    )
    libraries = {name.rsplit("/", 1)[-1] for name in files if ".so" in name}
    assert {"libc.so.6", "libpcre2-8.so.0", "libz.so.1"} <= libraries


def test_image_metadata_is_hardened_and_traceable(engine: Engine, starter: Deployed) -> None:
    site, _config, result = starter
    config = engine.client.images.get(result.images.image.tag).attrs["Config"]
    assert config["User"] == "101:101"
    assert list(config["ExposedPorts"]) == ["8080/tcp"]
    assert config["Healthcheck"]["Test"][:2] == ["CMD", "/usr/local/bin/healthcheck"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == site.name
    assert labels["org.opencontainers.image.created"].startswith("20")
    assert labels["io.sitedeploy.version"]
    assert labels["io.sitedeploy.builder-base"].startswith("debian:bookworm-slim sha256:")
    assert labels["io.sitedeploy.nginx-base"].startswith("debian:bookworm-slim sha256:")
    assert labels["io.sitedeploy.content-hash"] == result.images.content_hash


def _wait_healthy(engine: Engine, name: str) -> None:
    def healthy() -> bool:
        return bool(
            engine.client.containers.get(name).attrs["State"]["Health"]["Status"] == "healthy"
        )

    wait_until(40, healthy, f"{name} to report healthy", every=1)


def test_the_image_healthcheck_reports_healthy(engine: Engine, starter: Deployed) -> None:
    _site, _config, result = starter
    for name in (result.server, result.container):  # the site, and the front proxying to it
        _wait_healthy(engine, name)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "SAMEORIGIN",
}


@pytest.mark.parametrize("path", ["/", "/assets/main.css", "/feed.xml", "/no-such-page"])
def test_security_headers_on_every_response(starter: Deployed, path: str) -> None:
    _site, _config, result = starter
    response = requests.get(result.url + path, timeout=10)
    for header, value in SECURITY_HEADERS.items():
        assert response.headers[header] == value
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert response.headers["Server"] == "nginx"  # server_tokens off: no version


def _raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written (requests would normalise '..' away)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path",
    ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2f..%2fetc/passwd",
     "/.git/config", "/.env", "/index.html~", "/assets/"],
)  # fmt: skip
def test_traversal_secrets_and_listings_never_return_contents(starter: Deployed, path: str) -> None:
    _site, _config, result = starter
    status, body = _raw_get(result.url, path)
    assert status in {400, 403, 404}, (path, status)
    assert b"root:x:0:0" not in body
    assert b"Index of" not in body


def test_precompressed_gzip_and_brotli_decode_to_the_built_file(starter: Deployed) -> None:
    _site, _config, result = starter
    built = (result.built.root / "assets/main.css").read_bytes()
    cases = [
        ("gzip", gzip.decompress, {}),
        ("br", brotli.decompress, {}),
        ("gzip", gzip.decompress, {"Via": "1.1 cdn.example"}),  # through a proxy or CDN
    ]
    for encoding, decode, extra in cases:
        response = requests.get(
            result.url + "/assets/main.css",
            headers={"Accept-Encoding": encoding, **extra},
            timeout=10,
            stream=True,
        )
        raw = response.raw.read(decode_content=False)
        assert response.headers["Content-Encoding"] == encoding
        assert response.headers["Vary"] == "Accept-Encoding"
        assert len(raw) < len(built) / 2
        assert decode(raw) == built


def test_text_is_stored_compressed_only_and_inflated_for_clients_without_gzip(
    engine: Engine, starter: Deployed
) -> None:
    _site, _config, result = starter
    with _image_archive(engine, result.images.image.tag, "/srv/www/about") as archive:
        sizes = {m.name: m.size for m in archive.getmembers() if m.isfile()}
    assert sizes["about/index.html"] == 0  # the placeholder index and try_files need
    assert sizes["about/index.html.gz"] > 0 and sizes["about/index.html.br"] > 0

    built = (result.built.root / "about/index.html").read_bytes()
    for accept in ("identity", "deflate", None):  # None: requests sends no such header
        response = requests.get(
            result.url + "/about/", headers={"Accept-Encoding": accept}, stream=True, timeout=10
        )
        assert "Content-Encoding" not in response.headers, accept
        assert response.raw.read(decode_content=False) == built, accept


def test_a_site_s_own_gz_is_kept_with_its_original(engine: Engine, make_site: SiteFactory) -> None:
    data = b'{"items": [' + b", ".join(b'"item %d"' % n for n in range(200)) + b"]}\n"
    theirs = gzip.compress(data, compresslevel=1, mtime=0)
    folder = make_site("own-gz", {"assets/data.json": data, "assets/data.json.gz": theirs})
    site, _config, result = deploy(engine, folder)  # its check fetches data.json too
    with _image_archive(engine, result.images.image.tag, "/srv/www/assets") as archive:
        stored = {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.name.startswith("assets/data.json")
        }
    assert stored["assets/data.json"] == data
    assert stored["assets/data.json.gz"] == theirs
    assert brotli.decompress(stored["assets/data.json.br"]) == data
    plain = requests.get(
        result.url + "/assets/data.json", headers={"Accept-Encoding": None}, timeout=10
    )
    assert plain.content == data
    stop_preview(engine, site)


def test_revalidation_and_cache_control(starter: Deployed) -> None:
    _site, _config, result = starter
    page = requests.get(result.url + "/about/", timeout=10)
    assert page.headers["Cache-Control"] == "no-cache"
    assert page.headers["Last-Modified"]
    again = requests.get(
        result.url + "/about/", headers={"If-None-Match": page.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304
    since = requests.get(
        result.url + "/about/",
        headers={"If-Modified-Since": page.headers["Last-Modified"]},
        timeout=10,
    )
    assert since.status_code == 304
    css = requests.get(result.url + "/assets/main.css", timeout=10)
    assert css.headers["Cache-Control"] == "public, max-age=86400"
    assert "charset=utf-8" in css.headers["Content-Type"]


@pytest.fixture(scope="module")
def writable_copy(engine: Engine, starter: Deployed) -> Iterator[tuple[Container, str]]:
    """The starter image in a container whose filesystem we may add files to, to prove
    nginx itself refuses dotfiles and backups (the pack stage already removes them)."""
    site, _config, result = starter
    container, url = planted(
        engine,
        site,
        result.images.image.tag,
        "/srv/www",
        {
            ".env": b"SECRET=do-not-serve\n",
            ".git/config": b"[core]\nSECRET=do-not-serve\n",
            "notes.html~": b"SECRET=do-not-serve\n",
            "draft.bak": b"SECRET=do-not-serve\n",
            ".well-known/security.txt": b"Contact: mailto:security@example.com\n",
        },
    )
    yield container, url
    container.remove(force=True)


@pytest.mark.parametrize("path", ["/.env", "/.git/config", "/notes.html~", "/draft.bak"])
def test_nginx_refuses_dotfiles_and_backups_present_on_disk(
    writable_copy: tuple[Container, str], path: str
) -> None:
    _container, url = writable_copy
    response = requests.get(url + path, timeout=10)
    assert response.status_code == 404
    assert b"do-not-serve" not in response.content


def test_well_known_is_served(writable_copy: tuple[Container, str]) -> None:
    _container, url = writable_copy
    response = requests.get(url + "/.well-known/security.txt", timeout=10)
    assert response.status_code == 200
    assert response.text.startswith("Contact:")


def test_dotfiles_in_site_are_left_out_and_reported(engine: Engine, make_site: SiteFactory) -> None:
    config = "title: Secrets\ntheme: minima\ninclude: [.env, .well-known, .htaccess]\n"
    folder = make_site(
        "secrets",
        {
            "_config.yml": config,
            ".env": "SECRET=do-not-serve\n",
            ".htaccess": "Deny from all\n",
            ".well-known/security.txt": "Contact: mailto:security@example.com\n",
        },
    )
    site, _config, result = deploy(engine, folder)
    assert {".env", ".htaccess", ".well-known/security.txt"} <= result.built.paths()
    assert result.health.healthy
    refused = {
        w.url.rsplit("/", 1)[-1] for w in result.health.warnings if w.kind == "not-served-by-policy"
    }
    assert refused == {".env", ".htaccess"}
    assert requests.get(result.url + "/.env", timeout=10).status_code == 404
    assert requests.get(result.url + "/.well-known/security.txt", timeout=10).status_code == 200
    files = _image_files(engine, result.images.image.tag)
    assert "srv/www/.well-known/security.txt" in files
    assert "srv/www/.env" not in files and "srv/www/.htaccess" not in files
    stop_preview(engine, site)


def test_every_text_file_of_a_large_site_is_served_precompressed(
    engine: Engine, sites_root: Path
) -> None:
    """brotli_static stopped answering for some files after a few hundred requests over
    many folders while `disable_symlinks on` was set; every page must come back compressed."""
    folder = generate(sites_root / "sdtest-large", posts=400)
    site, _config, result = deploy(engine, folder)
    texts = [f.path for f in result.built.files if f.path.endswith((".html", ".css"))]
    assert len(texts) > 400
    http = urllib3.PoolManager(retries=False)
    for encoding in ("br", "gzip"):
        plain = []
        for path in texts:
            answer = http.request(
                "GET",
                f"{result.url}/{path}",
                headers={"Accept-Encoding": encoding},
                decode_content=False,
            )
            if answer.headers.get("Content-Encoding") != encoding:
                plain.append(path)
        assert plain == [], (encoding, plain[:5])
    stop_preview(engine, site)


def test_every_extension_of_the_table_is_served_with_its_type(
    engine: Engine, make_site: SiteFactory
) -> None:
    """One file of each extension the runtime's mime.types names (.mjs, .wasm,
    .webmanifest, .avif, .jxl, .woff2, .map, .ics … among them), each served with that
    type — the type `up`'s own check expects, read from the same table."""
    folder = make_site("types")
    (folder / "types").mkdir()
    table = served_types()
    for extension in table:
        (folder / "types" / f"sample{extension}").write_bytes(b"sitedeploy sample file\n" * 20)
    with served(engine, folder) as result:
        assert result.health.errors == []
        wrong = {}
        for extension, expected in table.items():
            answer = requests.get(f"{result.url}/types/sample{extension}", timeout=10)
            media = answer.headers["Content-Type"].split(";")[0].strip()
            if answer.status_code != 200 or media != expected:
                wrong[extension] = (answer.status_code, answer.headers["Content-Type"])
        assert wrong == {}
        module = requests.get(f"{result.url}/types/sample.mjs", timeout=10)
        assert module.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert {".mjs", ".wasm", ".webmanifest", ".avif", ".jxl", ".woff2", ".map"} <= set(table)
