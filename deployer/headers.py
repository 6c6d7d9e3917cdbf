"""Response headers: the runtime's security defaults, and a site's own `[headers]` and
Content-Security-Policy.

The defaults are declared once, in `docker/runtime/conf/security-headers.conf` and, for
the Content-Security-Policy, `csp.conf` (an nginx map from the page's path to its policy;
the runtime's maps every path to the strict default). A site that sets `[headers]` in
sitedeploy.toml gets its own security-headers.conf, rendered here: the defaults, with the
site's values replacing them (names compare case-insensitively), added to them, or — an
empty value — removing one. A site whose pages need more than the strict policy gets its
own csp.conf, rendered here from the policy derived for each page. Only header names and
values nginx can take literally get this far: a value never holds `"`, `\\`, `$` (an
nginx variable) or a control character.
"""

from __future__ import annotations

import re

from deployer.csp.directives import Policy
from deployer.resources import docker_dir

DEFAULTS_CONF = "runtime/conf/security-headers.conf"
CSP_DEFAULTS_CONF = "runtime/conf/csp.conf"
SITE_CONF = "/etc/nginx/security-headers.conf"  # where the runtime's nginx.conf includes it
SITE_CSP_CONF = "/etc/nginx/csp.conf"
CSP = "Content-Security-Policy"
CSP_VARIABLE = "$sitedeploy_csp"  # set by csp.conf's map, per page

_ADD_HEADER = re.compile(r'^add_header ([A-Za-z0-9-]+) (?:"([^"]*)"|(\$[a-z_]+)) always;')
_MAP_DEFAULT = re.compile(r'^\s*default "([^"]*)";', re.MULTILINE)
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


def strict_policy() -> str:
    """The runtime's default Content-Security-Policy (the site's own origin only)."""
    match = _MAP_DEFAULT.search(runtime_csp_conf())
    if match is None:
        raise ValueError(f"docker/{CSP_DEFAULTS_CONF} has no default policy (a broken install)")
    return match.group(1)


def runtime_csp_conf() -> str:
    return (docker_dir() / CSP_DEFAULTS_CONF).read_text(encoding="utf-8")


def default_headers() -> dict[str, str]:
    """The runtime's security headers, by name, in the order its configuration sends them
    (the Content-Security-Policy with its default value)."""
    headers: dict[str, str] = {}
    for line in (docker_dir() / DEFAULTS_CONF).read_text(encoding="utf-8").splitlines():
        match = _ADD_HEADER.match(line.strip())
        if match:
            variable = match.group(3)
            headers[match.group(1)] = (
                strict_policy() if variable == CSP_VARIABLE else match.group(2)
            )
    return headers


def own_policy(overrides: tuple[tuple[str, str], ...]) -> str | None:
    """The Content-Security-Policy a site sets itself in `[headers]` ("" for none), or
    None when it leaves it to sitedeploy."""
    for name, value in overrides:
        if name.lower() == CSP.lower():
            return value
    return None


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
    """An nginx include file that sends `headers` on every response, errors included; the
    Content-Security-Policy's value comes from csp.conf (`render_csp_conf`)."""
    lines = [
        '# Security headers on every response, errors included ("always"): sitedeploy\'s',
        "# defaults with this site's [headers] from sitedeploy.toml applied.",
        *(
            f"add_header {name} {CSP_VARIABLE} always;  # csp.conf: by page"
            if name.lower() == CSP.lower()
            else f'add_header {name} "{value}" always;'
            for name, value in headers.items()
        ),
    ]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str | None:
    """`text` as a quoted nginx string, or None if it cannot be one literally."""
    if any(c in text for c in '"\\') or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return None
    return f'"{text}"'


def render_csp_conf(default: str, pages: dict[str, str]) -> tuple[str, list[str]]:
    """csp.conf: an nginx map from `$uri` (the file a response comes from) to the page's
    policy, `default` for everything else; and the pages that keep the default because
    nginx cannot name their path literally.

    nginx's map compares strings ignoring case, so pages whose paths differ only in case
    share one entry with the union of their policies.
    """
    entries: dict[str, tuple[str, str]] = {}
    skipped = []
    for path, policy in sorted(pages.items()):
        key = _quoted(path)
        if key is None or _quoted(policy) is None:
            skipped.append(path)
            continue
        folded = path.lower()
        if folded in entries:
            merged = Policy.parse(entries[folded][1])
            for directive, sources in Policy.parse(policy).directives:
                merged = merged.adding(directive, list(sources))
            policy = str(merged)
        entries[folded] = (key, policy)
    longest = max((len(key.encode()) for key, _ in entries.values()), default=0)
    bucket = 64
    while bucket < longest + 32:
        bucket *= 2
    lines = [
        "# The Content-Security-Policy by page: derived by sitedeploy from what each page",
        "# loads; every other response gets the default.",
        f"map_hash_max_size {max(2048, 4 * len(entries))};",
        f"map_hash_bucket_size {bucket};",
        f"map $uri {CSP_VARIABLE} {{",
        f'    default "{default}";',
        *(f'    {key} "{policy}";' for key, policy in entries.values()),
        "}",
    ]
    return "\n".join(lines) + "\n", skipped
