"""The whole check of a served site (`check`, `up`), and the part a hot edit runs first.

1. The deployment (health.py): every built file served with its bytes and type; 404s.
2. The links (crawl.py): every reference of every page, stylesheet, feed and sitemap.
3. Optionally the browser (browser.py): every page in headless Chromium.

All requests share one connection pool and one thread pool.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from deployer.built_site import BuiltSite
from deployer.check.browser import check_in_browser
from deployer.check.crawl import check_links
from deployer.check.csp_audit import audit_policies
from deployer.check.findings import CheckReport
from deployer.check.health import (
    WORKERS,
    check_redirects,
    check_served_files,
    file_url,
    wait_until_serving,
)
from deployer.check.http import HttpClient
from deployer.progress import Progress
from deployer.redirects import Redirect
from deployer.serving_rules import never_served


def check_site(
    base: str,
    built: BuiltSite,
    progress: Progress,
    *,
    baseurl: str = "",
    site_url: str = "",
    external: bool = False,
    browser: bool = False,
    redirects: tuple[Redirect, ...] = (),
) -> CheckReport:
    """Check the site served at `base` against the `_site` it was built from (and the
    redirects its image answers itself)."""
    started = time.monotonic()
    wait_until_serving(base)
    report = CheckReport(url=base)
    http = HttpClient(WORKERS)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        with progress.step(f"Requesting all {len(built.files)} built files from {base}"):
            redirected = frozenset(redirect.uri for redirect in redirects)
            served = check_served_files(http, pool, base, built, baseurl, redirected)
        with progress.step("Following every link, fragment, feed and sitemap entry"):
            links = check_links(
                http,
                pool,
                base,
                built,
                baseurl,
                served.bodies,
                site_url=site_url,
                external=external,
            )
        with progress.step("Judging every page's loads by the policy it was served with"):
            blocked = audit_policies(base, baseurl, served.bodies, served.policies, site_url)
        moved = check_redirects(http, pool, base, redirects)
    report.files_checked = served.files_checked
    report.links_checked = links.links_checked
    report.redirects_checked = len(redirects)
    report.findings = [*served.findings, *links.findings, *blocked, *moved]
    if browser:
        pages = [
            file_url(base, baseurl, f.path)
            for f in built.files
            if f.path.endswith((".html", ".htm")) and not never_served(f.path)
        ]
        with progress.step(f"Opening {len(pages)} pages in headless Chromium"):
            report.findings.extend(check_in_browser(pages, on_page=progress.detail))
        report.pages_in_browser = len(pages)
    report.seconds = time.monotonic() - started
    return report


def referrers(built: BuiltSite, changed: set[str], baseurl: str, limit: int = 200) -> list[str]:
    """Pages (not in `changed`) whose HTML names one of the changed pages' URLs: their
    links and fragments into those pages are checked again after an edit."""
    names: set[bytes] = set()
    for path in changed:
        if not path.endswith((".html", ".htm")):
            continue
        names.add(f"{baseurl}/{path}".encode())
        if path.endswith("index.html"):
            names.add(f"{baseurl}/{path[: -len('index.html')]}".encode())
        else:
            names.add(f"{baseurl}/{path.rsplit('.', 1)[0]}".encode())
    found = []
    for file in built.files:
        if file.path in changed or not file.path.endswith((".html", ".htm")):
            continue
        if never_served(file.path):
            continue
        data = (built.root / file.path).read_bytes()
        if any(name in data for name in names):
            found.append(file.path)
            if len(found) >= limit:
                break
    return found


def check_changed(
    base: str,
    built: BuiltSite,
    changed: set[str],
    progress: Progress,
    *,
    baseurl: str = "",
    site_url: str = "",
    redirects: tuple[Redirect, ...] = (),
) -> CheckReport:
    """What `up --watch` checks before it switches to a hot edit: the changed files are
    served right (or redirected, as the image promises), and every reference of the
    changed pages — and of the pages that name them — resolves, and their policies. (The
    whole site is checked after the switch.)"""
    started = time.monotonic()
    wait_until_serving(base)
    report = CheckReport(url=base)
    subset = BuiltSite(built.root, tuple(f for f in built.files if f.path in changed))
    http = HttpClient(WORKERS)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        with progress.step(f"Requesting the {len(subset.files)} changed files from {base}"):
            redirected = frozenset(redirect.uri for redirect in redirects)
            served = check_served_files(http, pool, base, subset, baseurl, redirected)
        bodies = dict(served.bodies)
        for path in referrers(built, changed, baseurl):
            bodies.setdefault(path, (built.root / path).read_bytes())
        with progress.step(f"Following the links of {len(bodies)} pages"):
            links = check_links(
                http, pool, base, built, baseurl, bodies, site_url=site_url, orphans=False
            )
        blocked = audit_policies(base, baseurl, served.bodies, served.policies, site_url)
    report.files_checked = served.files_checked
    report.links_checked = links.links_checked
    report.findings = [*served.findings, *links.findings, *blocked]
    report.seconds = time.monotonic() - started
    return report
