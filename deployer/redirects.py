"""The redirects a site's image answers itself: `/` to its base path (302), and — for the
pages that moved — their old URLs to the new ones (301).

nginx takes them from `redirects.conf`, two maps from `$uri` to the target that the
runtime's nginx.conf includes (the runtime's own maps are empty); a site that has any gets
its own file (image/site_nginx.py). Declared once: the check asks for each redirect the
image promises (the image's labels carry them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from deployer.built_site import BuiltSite
from deployer.pages import redirect_page_target
from deployer.resources import docker_dir
from deployer.serving_rules import never_served

RUNTIME_REDIRECTS_CONF = "runtime/conf/redirects.conf"
SITE_REDIRECTS_CONF = "/etc/nginx/redirects.conf"
_MAPS = {302: "$sitedeploy_found", 301: "$sitedeploy_moved"}
_SAFE = "/:?#[]@!&'()*+,;=~%"  # a URL's own punctuation, kept as it is


@dataclass(frozen=True, order=True)
class Redirect:
    """`uri` (as nginx's `$uri`: decoded, without the query) answers `status` to `target`."""

    uri: str
    status: int
    target: str


def base_path_redirect(baseurl: str) -> tuple[Redirect, ...]:
    """`/` to the site's base path, for a site served under one (a GitHub project site's
    `/repo-name`): 302, as the base path may change; none for a site at the root."""
    return (Redirect("/", 302, f"{baseurl}/"),) if baseurl else ()


def _moved_to(target: str, page_uri: str, site_url: str) -> str:
    """Where a redirect page sends, as a path on the site when it is one (an absolute URL
    on the site's own `url:`, or a relative one), else the absolute URL as written."""
    parts = urlsplit(target)
    own = urlsplit(site_url) if site_url else None
    if parts.netloc and not (own and parts.netloc.lower() == own.netloc.lower()):
        return target  # elsewhere (`redirect_to` another site)
    if parts.netloc:
        return urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
    return urljoin(page_uri, target)


def _uris_of(path: str, baseurl: str) -> tuple[str, ...]:
    """The URLs a visitor asks for a page by (never its own file name when that is an
    `index.html`: asked for by name, the page itself is served)."""
    if path == "index.html" or path.endswith("/index.html"):
        folder = f"{baseurl}/{path[: -len('index.html')]}"
        return (folder, folder.rstrip("/")) if folder.rstrip("/") else (folder,)
    stem = path.rsplit(".", 1)[0]
    return (f"{baseurl}/{path}", f"{baseurl}/{stem}")


def site_redirects(built: BuiltSite, baseurl: str, site_url: str) -> tuple[Redirect, ...]:
    """Every redirect the site's image answers itself: `/` to its base path (302), and each
    page jekyll-redirect-from wrote (`redirect_from`, `redirect_to`) as a 301 to where it
    sends its reader."""
    found = list(base_path_redirect(baseurl))
    for file in built.files:
        if not file.path.endswith((".html", ".htm")) or never_served(file.path):
            continue
        target = redirect_page_target((built.root / file.path).read_bytes())
        if target is None:
            continue
        page_uri = f"{baseurl}/{file.path}"
        goes = _moved_to(target, page_uri, site_url)
        found.extend(
            Redirect(uri, 301, goes) for uri in _uris_of(file.path, baseurl) if uri != goes
        )
    return tuple(sorted(set(found)))


def _quoted(text: str) -> str | None:
    if any(c in text for c in '"\\$') or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return None
    return f'"{text}"'


def render_redirects_conf(redirects: tuple[Redirect, ...]) -> str:
    """redirects.conf: a map per status from `$uri` to the target (redirects whose paths
    nginx cannot name literally are left out)."""
    lines = ["# The site's redirects, by status: rendered by sitedeploy."]
    for status, variable in sorted(_MAPS.items()):
        lines.append(f"map $uri {variable} {{")
        lines.append('    default "";')
        for redirect in sorted(r for r in redirects if r.status == status):
            # nginx compares the decoded path; it sends the target as written: encoded.
            key, target = _quoted(redirect.uri), _quoted(quote(redirect.target, safe=_SAFE))
            if key and target:
                lines.append(f"    {key} {target};")
        lines.append("}")
    return "\n".join(lines) + "\n"


def runtime_redirects_conf() -> str:
    return (docker_dir() / RUNTIME_REDIRECTS_CONF).read_text(encoding="utf-8")


def redirects_label(redirects: tuple[Redirect, ...]) -> str:
    return json.dumps([[r.uri, r.status, r.target] for r in sorted(redirects)])


def redirects_from_label(text: str | None) -> tuple[Redirect, ...]:
    return tuple(
        Redirect(uri, int(status), target) for uri, status, target in json.loads(text or "[]")
    )
