"""Does every link of the served site lead somewhere? Checked over HTTP, fragments too.

References come from every served page (attributes, inline styles, meta refresh), every
stylesheet (`url()`, `@import`) and every feed and sitemap. An internal target that is a
file the deployment check already fetched needs no request; anything else (a pretty
permalink, a path nginx redirects) is requested once, following redirects by hand so a
loop is reported instead of followed. Meta-refresh pages (jekyll-redirect-from) are
followed the same way. External links are listed, and fetched only when asked.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from deployer.built_site import BuiltSite
from deployer.check.findings import Finding, Kind
from deployer.check.http import HttpClient, HttpFailure
from deployer.check.links import (
    ParsedPage,
    Reference,
    Target,
    css_references,
    internal_target,
    parse_html,
    xml_references,
)
from deployer.serving_rules import never_served

MAX_REDIRECTS = 8
EXTERNAL_TIMEOUT = 5.0
_ALWAYS_VALID_FRAGMENTS = {"", "top"}


@dataclass
class _Use:
    """Where a target is referenced from."""

    fragment: str
    referrer: str
    source: str  # the `_site` path of the referring file


@dataclass
class _Resolved:
    status: int | None  # final HTTP status (None: not reachable)
    file: str | None  # the `_site` file finally served, if known
    chain: list[str] = field(default_factory=list)  # redirects followed (URL paths)
    loop: bool = False
    error: str | None = None


@dataclass
class LinkReport:
    findings: list[Finding] = field(default_factory=list)
    links_checked: int = 0


class _Site:
    """The served site as the link check sees it: files, fetched bodies, parsed pages."""

    def __init__(
        self, base: str, built: BuiltSite, baseurl: str, site_url: str, bodies: dict[str, bytes]
    ) -> None:
        self.base = base.rstrip("/")
        self.baseurl = baseurl
        self.site_url = site_url
        self.files = frozenset(f.path for f in built.files if not never_served(f.path))
        self.bodies = bodies
        self.pages: dict[str, ParsedPage] = {}

    def url_path(self, file: str) -> str:
        return f"{self.baseurl}/{file}"

    def url(self, path: str) -> str:
        return self.base + quote(path)

    def file_for(self, path: str) -> str | None:
        """The file a URL path names directly (no redirect involved), if it was served."""
        if self.baseurl and not (path == self.baseurl or path.startswith(self.baseurl + "/")):
            return None
        relative = path[len(self.baseurl) :].lstrip("/")
        if relative == "" or path.endswith("/"):
            relative += "index.html"
        return relative if relative in self.files else None

    def page(self, file: str) -> ParsedPage | None:
        if file not in self.pages and file in self.bodies and file.endswith((".html", ".htm")):
            self.pages[file] = parse_html(self.bodies[file])
        return self.pages.get(file)


def _references(site: _Site) -> list[tuple[str, Reference]]:
    found: list[tuple[str, Reference]] = []
    for file in sorted(site.bodies):
        if file.endswith((".html", ".htm")):
            page = site.page(file)
            if page is None:
                continue
            found.extend((file, reference) for reference in page.references)
        elif file.endswith(".css"):
            text = site.bodies[file].decode("utf-8", "replace")
            found.extend((file, reference) for reference in css_references(text))
        else:
            text = site.bodies[file].decode("utf-8", "replace")
            found.extend((file, reference) for reference in xml_references(text))
    return found


def _referrer(site: _Site, file: str, reference: Reference) -> str:
    line = f" line {reference.line}" if reference.line else ""
    return f"{site.url(site.url_path(file))}{line} ({reference.attribute})"


def _follow(http: HttpClient, site: _Site, path: str) -> _Resolved:
    """Request `path`, following HTTP redirects and meta refreshes inside the site."""
    seen = [path]
    current = path
    for _ in range(MAX_REDIRECTS):
        file = site.file_for(current)
        if file is not None:
            status, location = 200, None
            page = site.page(file)
            refresh = page.refresh if page else None
        else:
            try:
                answer = http.request(site.url(current))
            except HttpFailure as error:
                return _Resolved(None, None, seen[1:], error=str(error))
            status, location, refresh = answer.status, answer.headers.get("Location"), None
            if status == 200 and answer.is_html:
                refresh = parse_html(answer.body).refresh
        nxt = location if status in {301, 302, 303, 307, 308} and location else refresh
        if not nxt:
            return _Resolved(status, file, seen[1:])
        target = internal_target(current, nxt, site.site_url)
        if target is None:  # a redirect out of the site: fine, not ours to follow
            return _Resolved(200, None, seen[1:])
        if target.path in seen:
            return _Resolved(status, file, [*seen[1:], target.path], loop=True)
        seen.append(target.path)
        current = target.path
    return _Resolved(None, None, seen[1:], loop=True)


def _fragment_ids(http: HttpClient, site: _Site, resolved: _Resolved, path: str) -> set[str] | None:
    final = resolved.chain[-1] if resolved.chain else path
    file = resolved.file or site.file_for(final)
    page = site.page(file) if file else None
    if page is not None:
        return page.ids
    try:
        answer = http.request(site.url(final), follow=True)
    except HttpFailure:
        return None
    return parse_html(answer.body).ids if answer.is_html else None


def _external(http: HttpClient, url: str) -> str | None:
    """Why an external link is broken, or None if it answers."""
    try:
        answer = http.request(url, method="HEAD", follow=True, timeout=EXTERNAL_TIMEOUT)
        if answer.status in {403, 405, 501}:  # servers that refuse HEAD
            answer = http.request(url, follow=True, timeout=EXTERNAL_TIMEOUT)
    except HttpFailure as error:
        return f"request failed: {error}"
    return f"status {answer.status}" if answer.status >= 400 else None


def check_links(
    http: HttpClient,
    pool: ThreadPoolExecutor,
    base: str,
    built: BuiltSite,
    baseurl: str,
    bodies: dict[str, bytes],
    *,
    site_url: str = "",
    external: bool = False,
    orphans: bool = True,
) -> LinkReport:
    """Check every reference in the served pages, stylesheets, feeds and sitemaps (those
    in `bodies`). `orphans=False` when `bodies` are only some of the pages."""
    site = _Site(base, built, baseurl, site_url, bodies)
    report = LinkReport()
    uses: dict[str, list[_Use]] = defaultdict(list)
    externals: dict[str, str] = {}
    linked_from_pages: set[str] = set()
    for source, reference in _references(site):
        target: Target | None = internal_target(site.url_path(source), reference.url, site.site_url)
        if target is None:
            scheme = urlsplit(reference.url).scheme
            if scheme in {"http", "https"} or reference.url.startswith("//"):
                externals.setdefault(reference.url, _referrer(site, source, reference))
            continue
        uses[target.path].append(_Use(target.fragment, _referrer(site, source, reference), source))
        if source.endswith((".html", ".htm")) and reference.attribute != "meta refresh":
            linked = site.file_for(target.path)
            if linked and linked != source:
                linked_from_pages.add(linked)
    # Every meta-refresh page is a redirect that must lead somewhere, linked or not.
    for file in sorted(site.files):
        page = site.page(file)
        if page is not None and page.refresh is not None:
            path = site.url_path(file)
            uses.setdefault(
                path.removesuffix("index.html") if path.endswith("/index.html") else path, []
            )

    # Linked paths first, so a loop is reported where a reader would run into it.
    paths = sorted(uses, key=lambda p: (not uses[p], p))
    resolved = dict(zip(paths, pool.map(lambda p: _follow(http, site, p), paths), strict=True))
    report.links_checked = sum(len(u) for u in uses.values())
    loops_seen: set[frozenset[str]] = set()
    for path in paths:
        if resolved[path].loop:
            cycle = frozenset([path, *resolved[path].chain])
            if any(cycle & seen for seen in loops_seen):
                continue  # the same loop, entered elsewhere
            loops_seen.add(cycle)
        report.findings.extend(_judge(http, site, path, resolved[path], uses[path]))

    for file in sorted(site.files) if orphans else ():
        page = site.page(file)
        if (
            page is not None
            and file not in linked_from_pages
            and posixpath.basename(file) != "404.html"
            and file != "index.html"
            and page.refresh is None
        ):
            report.findings.append(
                Finding(
                    Kind.ORPHAN, site.url(site.url_path(file)), "no page of the site links here"
                )
            )

    if external:
        urls = sorted(externals)
        for url, problem in zip(urls, pool.map(lambda u: _external(http, u), urls), strict=True):
            if problem:
                report.findings.append(Finding(Kind.EXTERNAL_BROKEN, url, problem, externals[url]))
    else:
        report.findings.extend(
            Finding(Kind.EXTERNAL, url, "not fetched (use --external)", referrer)
            for url, referrer in sorted(externals.items())
        )
    return report


def _judge(
    http: HttpClient, site: _Site, path: str, resolved: _Resolved, uses: list[_Use]
) -> list[Finding]:
    url = site.url(path)
    first = uses[0].referrer if uses else None
    if resolved.loop:
        chain = " -> ".join([path, *resolved.chain])
        return [Finding(Kind.REDIRECT_LOOP, url, f"redirects in a loop: {chain}", first)]
    if resolved.status != 200:
        why = resolved.error or f"status {resolved.status}"
        kind = Kind.BROKEN_REDIRECT if resolved.chain else Kind.BROKEN_LINK
        if not uses:
            return [Finding(Kind.BROKEN_REDIRECT, url, f"redirects to a missing page ({why})")]
        return _per_page(kind, url, why, uses)
    findings = []
    if resolved.chain and uses and any(u.referrer.endswith("(a href)") for u in uses):
        findings.append(
            Finding(
                Kind.REDIRECT, url, f"redirects to {resolved.chain[-1]}; link there directly", first
            )
        )
    fragments = [u for u in uses if u.fragment not in _ALWAYS_VALID_FRAGMENTS]
    if fragments:
        ids = _fragment_ids(http, site, resolved, path)
        if ids is not None:
            for use in fragments:
                if use.fragment not in ids:
                    findings.append(
                        Finding(
                            Kind.BAD_FRAGMENT,
                            f"{url}#{use.fragment}",
                            f"the page has no element with id {use.fragment!r}",
                            use.referrer,
                        )
                    )
    return findings


def _per_page(kind: Kind, url: str, why: str, uses: list[_Use]) -> list[Finding]:
    """One finding per referring file (its first reference), not one per occurrence."""
    seen: set[str] = set()
    findings = []
    for use in uses:
        if use.source in seen:
            continue
        seen.add(use.source)
        findings.append(Finding(kind, url, why, use.referrer))
    return findings
