"""The Content-Security-Policy a site's image sends, decided once its pages are built.

`[headers] Content-Security-Policy` is the site's own and sent as it is; `[csp] mode =
"strict"` keeps the runtime's self-only policy; otherwise (`derived`, the default) every
page gets the policy its own loads need (`csp/derive.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deployer.built_site import BuiltSite
from deployer.config import SiteConfig
from deployer.csp.derive import PageMemo, SitePolicy, derive_site_policy
from deployer.csp.directives import Policy
from deployer.csp.loads import stylesheet_reader
from deployer.headers import (
    own_policy,
    strict_policy,
)
from deployer.serving_rules import never_served

# The URL path nginx answers unknown paths from (error_page 404 in the runtime's nginx.conf).
NOT_FOUND_URI = "/.sitedeploy/404.html"
PAGE_SUFFIXES = (".html", ".htm")


def _read_file(root: Path) -> Callable[[str], bytes | None]:
    def read(path: str) -> bytes | None:
        file = root / path
        return file.read_bytes() if file.is_file() else None

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
    reader = stylesheet_reader(_read_file(built.root), baseurl, site_url)
    pages = site_pages(built, baseurl)
    return derive_site_policy(pages, Policy.parse(strict), config.csp, reader, memo)
