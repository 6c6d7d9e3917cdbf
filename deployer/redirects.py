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
from urllib.parse import quote

from deployer.resources import docker_dir

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
