"""A site's own `[headers]` reach every response of its hardened container, and a policy
that allows the site's inline script passes the browser check."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
import requests

from deployer.check.served import check_site
from deployer.config import SiteConfig
from deployer.engine import Engine
from deployer.headers import SITE_CONF, SITE_CSP_CONF
from deployer.image.extract import read_image_file
from deployer.labels import Label
from deployer.progress import Progress
from deployer.provenance.sbom import files_from_labels
from deployer.serve.preview import stop_preview
from deployer.serve.switch import UpResult
from deployer.site import Site
from tests.conftest import SiteFactory
from tests.integration.conftest import deploy

pytestmark = pytest.mark.engine

Deployed = tuple[Site, SiteConfig, UpResult]

SCRIPT = "document.title = 'inline ok';"
SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
CSP = (
    f"default-src 'self'; script-src 'self' 'sha256-{SCRIPT_HASH}'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
FILES: dict[str, str | bytes | None] = {
    "sitedeploy.toml": (
        "[headers]\n"
        f'Content-Security-Policy = "{CSP}"\n'
        'X-Frame-Options = ""   # frame-ancestors says it\n'
        'strict-transport-security = "max-age=63072000"\n'
    ),
    "inline.html": f"---\nlayout: default\ntitle: Inline\n---\n<script>{SCRIPT}</script>\n",
}


@pytest.fixture(scope="module")
def headed(engine: Engine, make_site: SiteFactory) -> Iterator[Deployed]:
    deployed = deploy(engine, make_site("headers", FILES))
    yield deployed
    stop_preview(engine, deployed[0])


@pytest.mark.parametrize("path", ["/", "/inline.html", "/assets/main.css", "/no-such-page"])
def test_site_headers_replace_add_and_remove(headed: Deployed, path: str) -> None:
    _site, _config, result = headed
    response = requests.get(result.url + path, timeout=10)
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert "X-Frame-Options" not in response.headers
    # The defaults the site did not touch are still sent, once.
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_the_image_says_which_headers_it_sends(engine: Engine, headed: Deployed) -> None:
    _site, _config, result = headed
    image = engine.client.images.get(result.images.image.tag)
    assert CSP in image.labels[Label.HEADERS]
    history = " ".join(layer.created_by for layer in engine.history(result.images.image.tag))
    assert "COPY /etc/nginx/ /etc/nginx/" in history
    # The bill of materials names the files the image really has, not the runtime's.
    listed = {f.path: f for f in files_from_labels(image.labels)}
    for path in (SITE_CONF, SITE_CSP_CONF):
        shipped = read_image_file(engine, result.images.image.tag, path)
        assert listed[path].sha256 == hashlib.sha256(shipped).hexdigest()
    assert CSP.encode() in read_image_file(engine, result.images.image.tag, SITE_CSP_CONF)
    assert result.images.csp_summary == "CSP: the site's own, from [headers]"


def test_a_policy_allowing_the_inline_script_passes_the_browser_check(headed: Deployed) -> None:
    _site, _config, result = headed
    report = check_site(result.url, result.built, Progress(quiet=True), browser=True)
    assert report.errors == [], report.errors
    assert report.pages_in_browser >= 4
