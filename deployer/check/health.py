"""Is the deployment serving the site it was built from? Checked over real HTTP.

Every file of the built `_site` must come back with 200, exactly its built bytes (after
decompression) and a Content-Type a browser treats right, with a charset for text; an
unknown path must be a 404 with the site's 404 page; a file sitedeploy never serves
(`.env`, `*~` …) must not be served. The bodies of pages, stylesheets and feeds are kept
for the link check, so nothing is fetched twice.
"""

from __future__ import annotations

import hashlib
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from deployer.built_site import BuiltFile, BuiltSite
from deployer.check.findings import Finding, Kind
from deployer.check.http import Answer, HttpClient, HttpFailure
from deployer.errors import PreviewFailed
from deployer.hardening import HEALTH_PATH
from deployer.mime import accepted_types, served_type
from deployer.redirects import Redirect
from deployer.serving_rules import never_served
from deployer.waiting import wait_until

WORKERS = 8
KEPT_FOR_LINKS = (".html", ".htm", ".css", ".xml", ".rss", ".atom")

# Text types a browser must be told the charset of (nginx.conf's charset_types has them).
NEEDS_CHARSET = ("text/html", "text/css", "text/plain", "application/javascript", "text/javascript")


def wait_until_serving(url: str, timeout: float = 30.0) -> None:
    """Poll `url` until it answers any HTTP status; raise PreviewFailed at the deadline."""
    last_error: Exception | None = None
    http = HttpClient(workers=1)

    def answers() -> bool:
        nonlocal last_error
        try:
            http.request(url, timeout=2)
        except HttpFailure as error:
            last_error = error
            return False
        return True

    wait_until(
        timeout, answers, f"{url} to answer", error=PreviewFailed,
        hint=lambda: f"The last error: {last_error}.",
    )  # fmt: skip


def file_url(base: str, baseurl: str, path: str) -> str:
    return f"{base.rstrip('/')}{baseurl}/{quote(path)}"


@dataclass
class Served:
    """What the deployment check fetched: findings, and the bodies the link check needs."""

    findings: list[Finding] = field(default_factory=list)
    bodies: dict[str, bytes] = field(default_factory=dict)  # by `_site` path
    policies: dict[str, str | None] = field(default_factory=dict)  # each page's served CSP
    files_checked: int = 0


def _type_problem(path: str, content_type: str) -> Finding | None:
    expected = accepted_types(path)
    if expected is None:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in expected:
        return Finding(
            Kind.WRONG_TYPE, path, f"served as {content_type!r}, expected {served_type(path)}"
        )
    if media in NEEDS_CHARSET and "charset=" not in content_type.lower():
        return Finding(Kind.MISSING_CHARSET, path, f"served as {content_type!r} without a charset")
    return None


def _check_file(
    http: HttpClient, base: str, baseurl: str, file: BuiltFile
) -> tuple[Finding | None, Answer | None]:
    """A finding about one built file (None: served right), and its answer if it is the
    built file."""
    url = file_url(base, baseurl, file.path)
    try:
        answer = http.request(url)
    except HttpFailure as error:
        return Finding(Kind.UNREACHABLE, url, f"request failed: {error}"), None
    if answer.status != 200:
        return Finding(Kind.NOT_SERVED, url, f"status {answer.status}, expected 200"), None
    digest = hashlib.sha256(answer.body).hexdigest()
    if digest != file.sha256:
        return Finding(
            Kind.WRONG_BYTES,
            url,
            f"served {len(answer.body)} bytes (sha256 {digest[:12]}), built {file.size} "
            f"bytes (sha256 {file.sha256[:12]})",
        ), None
    problem = _type_problem(file.path, answer.content_type)
    if problem:
        problem = Finding(problem.kind, url, problem.detail)
    return problem, answer


def _check_refused(http: HttpClient, url: str) -> Finding | None:
    try:
        answer = http.request(url)
    except HttpFailure as error:
        return Finding(Kind.UNREACHABLE, url, f"request failed: {error}")
    if answer.status == 200:
        return Finding(Kind.SERVED_SECRET, url, "a file sitedeploy never serves answered 200")
    return None


def _check_not_found(http: HttpClient, base: str, built: BuiltSite) -> Finding | None:
    url = f"{base.rstrip('/')}/sitedeploy-missing-{secrets.token_hex(4)}"
    try:
        answer = http.request(url)
    except HttpFailure as error:
        return Finding(Kind.UNREACHABLE, url, f"request failed: {error}")
    if answer.status != 404:
        return Finding(Kind.NOT_FOUND_PAGE, url, f"status {answer.status}, expected 404")
    page = built.root / "404.html"
    if page.is_file() and answer.body != page.read_bytes():
        return Finding(Kind.NOT_FOUND_PAGE, url, "the 404 answer is not the site's 404.html")
    return None


def check_served_files(
    http: HttpClient,
    pool: ThreadPoolExecutor,
    base: str,
    built: BuiltSite,
    baseurl: str,
    redirected: frozenset[str] = frozenset(),
) -> Served:
    """Request every built file from `base` and compare it with `built` (but for those
    whose URL the image answers with a redirect, `redirected`: check_redirects asks)."""
    served = Served()
    wanted = [
        f
        for f in built.files
        if not never_served(f.path) and f"{baseurl}/{f.path}" not in redirected
    ]
    refused = [f for f in built.files if never_served(f.path)]
    for file, (finding, answer) in zip(
        wanted, pool.map(lambda f: _check_file(http, base, baseurl, f), wanted), strict=True
    ):
        if finding:
            served.findings.append(finding)
        if answer is None:
            continue
        if file.path.lower().endswith(KEPT_FOR_LINKS):
            served.bodies[file.path] = answer.body
        if answer.is_html:
            served.policies[file.path] = answer.headers.get("Content-Security-Policy")
    for file, finding in zip(
        refused,
        pool.map(lambda f: _check_refused(http, file_url(base, baseurl, f.path)), refused),
        strict=True,
    ):
        url = file_url(base, baseurl, file.path)
        served.findings.append(
            finding or Finding(Kind.NOT_SERVED_BY_POLICY, url, "in _site, never served")
        )
    not_found = _check_not_found(http, base, built)
    if not_found:
        served.findings.append(not_found)
    served.files_checked = len(wanted)
    return served


def check_redirects(
    http: HttpClient, pool: ThreadPoolExecutor, base: str, redirects: tuple[Redirect, ...]
) -> list[Finding]:
    """Each redirect the image promises (its base path, moved pages) answers as promised."""

    def check(redirect: Redirect) -> Finding | None:
        url = f"{base.rstrip('/')}{quote(redirect.uri)}"
        try:
            answer = http.request(url)
        except HttpFailure as error:
            return Finding(Kind.UNREACHABLE, url, f"request failed: {error}")
        location = answer.headers.get("Location", "")
        wanted = urlsplit(quote(redirect.target, safe="/:?#%")).path
        if (answer.status, urlsplit(location).path) == (redirect.status, wanted):
            return None
        return Finding(
            Kind.WRONG_REDIRECT, url,
            f"answered {answer.status} {location or '(no Location)'}, expected "
            f"{redirect.status} to {redirect.target}",
        )  # fmt: skip

    return [finding for finding in pool.map(check, redirects) if finding]


def serves_our_image(base: str) -> bool:
    """Does a sitedeploy image answer at `base`? (Its health location, which answers 204
    and names the container, is in no other server.)"""
    try:
        answer = HttpClient(workers=1).request(f"{base.rstrip('/')}{HEALTH_PATH}", timeout=5)
    except HttpFailure:
        return False
    return answer.status == 204 and "X-Served-By" in answer.headers
