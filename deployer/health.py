"""Is the deployment serving the site it was built from? Checked over real HTTP.

A deployment is broken (a failure) when a built file is not served with 200 and exactly
its built bytes, when an unknown path is not a 404 with the site's 404 page, or when a
file sitedeploy must never serve (`.env`, `*~` …) is served. A page that references a
file missing from `_site` is a defect of the site, not of the deployment: a warning.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from deployer.errors import PreviewFailed
from deployer.links import extract_references, internal_path, resolve_file
from deployer.policy import never_served
from deployer.sitefiles import BuiltFile, BuiltSite

WORKERS = 16
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Finding:
    kind: str
    url: str
    detail: str
    referrer: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def __str__(self) -> str:
        where = f" (referenced by {self.referrer})" if self.referrer else ""
        return f"{self.kind}: {self.url}{where}: {self.detail}"


@dataclass
class HealthReport:
    url: str
    pages_checked: int = 0
    failures: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def healthy(self) -> bool:
        return not self.failures


def _session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=WORKERS, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def wait_until_serving(url: str, timeout: float = 30.0) -> None:
    """Poll `url` until it answers any HTTP status; raise PreviewFailed at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException as error:
            last_error = error
            time.sleep(0.1)
    raise PreviewFailed(f"{url} did not answer within {timeout:.0f} s (last error: {last_error}).")


def _url(base: str, baseurl: str, path: str) -> str:
    return f"{base.rstrip('/')}{baseurl}/{quote(path)}"


def _check_file(session: requests.Session, url: str, file: BuiltFile) -> Finding | None:
    try:
        response = session.get(url, timeout=REQUEST_TIMEOUT, allow_redirects=False)
    except requests.RequestException as error:
        return Finding("unreachable", url, f"request failed: {error}")
    if response.status_code != 200:
        return Finding("not-served", url, f"status {response.status_code}, expected 200")
    digest = hashlib.sha256(response.content).hexdigest()
    if digest != file.sha256:
        return Finding(
            "wrong-bytes",
            url,
            f"served {len(response.content)} bytes (sha256 {digest[:12]}), built {file.size} "
            f"bytes (sha256 {file.sha256[:12]})",
        )
    return None


def _check_refused(session: requests.Session, url: str) -> Finding | None:
    try:
        response = session.get(url, timeout=REQUEST_TIMEOUT, allow_redirects=False)
    except requests.RequestException as error:
        return Finding("unreachable", url, f"request failed: {error}")
    if response.status_code == 200:
        return Finding("served-secret", url, "a file sitedeploy never serves answered 200")
    return None


def _check_not_found(session: requests.Session, base: str, built: BuiltSite) -> Finding | None:
    url = f"{base.rstrip('/')}/sitedeploy-missing-{secrets.token_hex(4)}"
    try:
        response = session.get(url, timeout=REQUEST_TIMEOUT, allow_redirects=False)
    except requests.RequestException as error:
        return Finding("unreachable", url, f"request failed: {error}")
    if response.status_code != 404:
        return Finding("not-found-page", url, f"status {response.status_code}, expected 404")
    page = built.root / "404.html"
    if page.is_file() and response.content != page.read_bytes():
        return Finding("not-found-page", url, "the 404 answer is not the site's 404.html")
    return None


def _missing_references(built: BuiltSite, baseurl: str, base: str) -> list[Finding]:
    files = built.paths()
    findings: dict[tuple[str, str], Finding] = {}
    for file in built.files:
        if not file.path.endswith((".html", ".htm")) or never_served(file.path):
            continue
        page = f"{baseurl}/{file.path}"
        text = Path(built.root, file.path).read_text(encoding="utf-8", errors="replace")
        for reference in extract_references(text):
            target = internal_path(page, reference.url, baseurl)
            if target is None or resolve_file(target, files, baseurl) is not None:
                continue
            referrer = (
                f"{_url(base, baseurl, file.path)} line {reference.line} ({reference.attribute})"
            )
            key = (target, file.path)
            findings.setdefault(
                key,
                Finding("missing-reference", reference.url, "no such file in _site", referrer),
            )
    return list(findings.values())


def check_deployment(base: str, built: BuiltSite, baseurl: str = "") -> HealthReport:
    """Request every built file from the server at `base` and compare it with `built`."""
    started = time.monotonic()
    report = HealthReport(url=base)
    served = [f for f in built.files if not never_served(f.path)]
    refused = [f for f in built.files if never_served(f.path)]
    with _session() as session, ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(
            pool.map(lambda f: _check_file(session, _url(base, baseurl, f.path), f), served)
        )
        results += pool.map(lambda f: _check_refused(session, _url(base, baseurl, f.path)), refused)
        results.append(_check_not_found(session, base, built))
    report.failures = [finding for finding in results if finding]
    report.pages_checked = len(served)
    report.warnings = [
        Finding("not-served-by-policy", _url(base, baseurl, f.path), "in _site, never served")
        for f in refused
    ] + _missing_references(built, baseurl, base)
    report.seconds = time.monotonic() - started
    return report
