"""Response headers: the runtime's security defaults, and a site's own `[headers]`.

The defaults are declared once, in `docker/runtime/conf/security-headers.conf`, which the
shared nginx runtime image carries. A site that sets `[headers]` in sitedeploy.toml gets its
own copy of that file in its image, rendered here: the defaults, with the site's values
replacing them (names compare case-insensitively), added to them, or — an empty value —
removing one. Only header names and values nginx can take literally get this far: a value
never holds `"`, `\\`, `$` (an nginx variable) or a control character.
"""

from __future__ import annotations

import re

from deployer.resources import docker_dir

DEFAULTS_CONF = "runtime/conf/security-headers.conf"
SITE_CONF = "/etc/nginx/security-headers.conf"  # where the runtime's nginx.conf includes it

_ADD_HEADER = re.compile(r'^add_header ([A-Za-z0-9-]+) "([^"]*)" always;$')
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_VALUE = re.compile(r"^[\x20-\x7e]*$")
_UNSAFE = set('"\\$')

# Headers nginx (or sitedeploy's own configuration) sets per response; a fixed value here
# would be wrong for some responses, so a site cannot set them.
MANAGED = frozenset(
    name.lower()
    for name in (
        "Cache-Control", "Content-Encoding", "Content-Length", "Content-Type", "Date",
        "ETag", "Last-Modified", "Server", "Vary", "Connection", "Transfer-Encoding",
        "Accept-Ranges", "Location", "X-Served-By",
    )
)  # fmt: skip


def default_headers() -> dict[str, str]:
    """The runtime's security headers, by name, in the order its configuration sends them."""
    headers: dict[str, str] = {}
    for line in (docker_dir() / DEFAULTS_CONF).read_text(encoding="utf-8").splitlines():
        match = _ADD_HEADER.match(line.strip())
        if match:
            headers[match.group(1)] = match.group(2)
    return headers


def header_problem(name: str, value: object) -> str | None:
    """Why `name = value` cannot be a site's header, or None if it can."""
    if not _NAME.match(name):
        return f"{name!r} is not an HTTP header name (letters, digits and '-')"
    if name.lower() in MANAGED:
        return f"{name} is set by nginx for each response; a site cannot fix its value"
    if not isinstance(value, str):
        return f'expected a string ("" to send no {name} header), got {value!r}'
    if not _VALUE.match(value) or _UNSAFE & set(value):
        return f"the value of {name} may hold printable ASCII only, without '\"', '\\' or '$'"
    return None


def site_headers(overrides: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The headers a site's responses carry: the defaults with its `[headers]` applied."""
    headers = default_headers()
    for name, value in overrides:
        for existing in [n for n in headers if n.lower() == name.lower()]:
            del headers[existing]
        if value:
            headers[name] = value
    return headers


def render_conf(headers: dict[str, str]) -> str:
    """An nginx include file that sends `headers` on every response, errors included."""
    lines = [
        '# Security headers on every response, errors included ("always"): sitedeploy\'s',
        "# defaults with this site's [headers] from sitedeploy.toml applied.",
        *(f'add_header {name} "{value}" always;' for name, value in headers.items()),
    ]
    return "\n".join(lines) + "\n"
