"""What the served Content-Security-Policy blocks, found without a browser.

Every served page is read as a browser would load it (`csp/loads.py`: its scripts,
stylesheets, fonts named by its own stylesheets, frames, inline scripts, event handlers,
form targets …), and each load is judged against the policy the page was served with
(`csp/policy.py`). A blocked load is a finding of the site (an error in `check`, a warning
in `up` unless `--strict`), with the page, line and directive. `check --browser` sees
the same violations in Chromium, as far as a page load shows them (an `onclick` handler
or a form's target is judged by a browser only when clicked or sent).
"""

from __future__ import annotations

from urllib.parse import urljoin

from deployer.check.findings import Finding, Kind
from deployer.check.health import file_url
from deployer.csp.directives import Policy
from deployer.csp.loads import Load, page_loads, stylesheet_reader

_PAGES = (".html", ".htm")


def _fix(load: Load, directive: str) -> str:
    if load.inline and load.digest is None:
        return (
            "No policy without 'unsafe-inline' runs a javascript: URL: move the code into a "
            "script file and attach it with addEventListener."
        )
    what = f"'{load.digest}'" if load.inline else "its origin"
    return (
        f'Allow {what} in {directive}: sitedeploy derives it ([csp] mode = "derived", the '
        "default), or add it to the site's own policy in [headers]."
    )


def blocked_by(policy: Policy, load: Load, page_url: str) -> tuple[str, str] | None:
    """(the governing directive, its sources) if `policy` blocks `load` on `page_url`."""
    if load.url is None:  # inline
        allowed = policy.allows_inline(load.directive, load.digest)
    else:
        allowed = policy.allows_url(load.directive, urljoin(page_url, load.url), page_url)
    governing = policy.governing(load.directive)
    if allowed or governing is None:  # nothing governs it: nothing blocks it
        return None
    return governing[0], " ".join(governing[1])


def audit_policies(
    base: str,
    baseurl: str,
    bodies: dict[str, bytes],
    policies: dict[str, str | None],
    site_url: str = "",
) -> list[Finding]:
    """Findings for every load of every served page its served policy blocks.

    `bodies` are the served files by `_site` path (pages and stylesheets), `policies` the
    Content-Security-Policy each page was served with (None: none, nothing is blocked).
    """
    stylesheet = stylesheet_reader(bodies.get, baseurl, site_url)

    findings: list[Finding] = []
    for path in sorted(bodies):
        header = policies.get(path)
        if not path.endswith(_PAGES) or not header:
            continue
        policy = Policy.parse(header)
        page_url = file_url(base, baseurl, path)
        seen: set[tuple[str, str | None, str | None]] = set()
        for load in page_loads(bodies[path], f"{baseurl}/{path}", stylesheet):
            blocked = blocked_by(policy, load, page_url)
            key = (load.directive, load.url, load.digest)
            if blocked is None or key in seen:
                continue
            seen.add(key)
            directive, sources = blocked
            where = f"{page_url} line {load.line} ({load.what})"
            if load.file != f"{baseurl}/{path}":
                where = f"{page_url}, in {load.file} line {load.line} ({load.what})"
            target = urljoin(page_url, load.url) if load.url else "inline"
            needs = f" (its hash: '{load.digest}')" if load.digest else ""
            findings.append(
                Finding(
                    Kind.CSP_BLOCKED,
                    target,
                    f"{load.directive} blocks it: the served policy's {directive} is "
                    f"{sources!r}{needs}. {_fix(load, directive)}",
                    where,
                    directive=load.directive,
                )
            )
    return findings
