"""The Content-Security-Policy a site's image sends, decided once its pages are built.

`[headers] Content-Security-Policy` is the site's own and sent as it is; `[csp] mode =
"strict"` keeps the runtime's self-only policy; otherwise (`derived`, the default) every
page gets the policy its own loads need (`csp/derive.py`). The site's nginx files that
differ from the runtime's (csp.conf, security-headers.conf) are what its image adds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from deployer.build.headers import (
    SITE_CONF,
    SITE_CSP_CONF,
    own_policy,
    render_conf,
    render_csp_conf,
    site_headers,
    strict_policy,
)
from deployer.build.policy import never_served
from deployer.build.sitefiles import BuiltSite
from deployer.config import SiteConfig
from deployer.csp.derive import PageMemo, SitePolicy, derive_site_policy
from deployer.csp.policy import Policy

# The URL path nginx answers unknown paths from (error_page 404 in the runtime's nginx.conf).
NOT_FOUND_URI = "/.sitedeploy/404.html"
PAGE_SUFFIXES = (".html", ".htm")


def _stylesheet_reader(root: Path, baseurl: str, site_url: str) -> Callable[[str], str | None]:
    """Reads one of the site's own stylesheets by a URL a page names (None: not ours)."""
    own = urlsplit(site_url) if site_url else None

    def read(url: str) -> str | None:
        parts = urlsplit(url)
        ours = own is not None and (parts.scheme, parts.netloc) == (own.scheme, own.netloc)
        if (parts.scheme or parts.netloc) and not ours:
            return None
        path = unquote(parts.path)
        if baseurl and path.startswith(baseurl + "/"):
            path = path[len(baseurl) :]
        file = root / path.lstrip("/")
        if not path.endswith(".css") or not file.is_file():
            return None
        return file.read_text(encoding="utf-8", errors="replace")

    return read


def site_pages(built: BuiltSite, baseurl: str) -> dict[str, bytes]:
    """Every page nginx serves, by the URL path its response comes from (`$uri`)."""
    pages = {}
    for file in built.files:
        if file.path.endswith(PAGE_SUFFIXES) and not never_served(file.path):
            html = (built.root / file.path).read_bytes()
            pages[f"{baseurl}/{file.path}"] = html
            if file.path == "404.html":
                pages[NOT_FOUND_URI] = html
    return pages


def site_policy(
    config: SiteConfig,
    built: BuiltSite,
    baseurl: str,
    site_url: str,
    memo: PageMemo | None = None,
) -> SitePolicy:
    """The policy the site's responses carry (see the module's docstring); `memo` keeps
    each page's derivation between calls (`up --watch`)."""
    own = own_policy(config.headers)
    if own is not None:
        return SitePolicy("own", own)
    strict = strict_policy()
    if not config.csp.derive:
        return SitePolicy("strict", strict)
    reader = _stylesheet_reader(built.root, baseurl, site_url)
    pages = site_pages(built, baseurl)
    return derive_site_policy(pages, Policy.parse(strict), config.csp, reader, memo)


def site_nginx_files(config: SiteConfig, policy: SitePolicy) -> tuple[dict[str, str], list[str]]:
    """The nginx files the site's image adds over the runtime's (path -> text; none when
    the runtime's serve it as it should be), and pages left on the default policy."""
    files: dict[str, str] = {}
    if config.headers:
        files[SITE_CONF] = render_conf(site_headers(config.headers))
    conf, skipped = render_csp_conf(policy.default, policy.pages)
    if conf != render_csp_conf(strict_policy(), {})[0]:
        files[SITE_CSP_CONF] = conf
    return files, skipped
