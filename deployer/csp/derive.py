"""The policy a site needs, derived from what its built pages load.

Every page gets its own policy: the strict base (the runtime's default, self only) plus,
per directive, the origins the page loads from, the hashes of its inline scripts (and of
its event handlers, with `'unsafe-hashes'`), the sources known to come with an origin it
loads (a Google Fonts stylesheet fetches its fonts from fonts.gstatic.com: `COMPANIONS`,
which `[csp.companions]` extends) and what `[csp] allow` adds to every page. Scripts
never get `'unsafe-inline'`, a wildcard or a bare scheme: what only those would allow
(a `javascript:` URL, a `data:` script) is left blocked and named by the check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from deployer.csp.directives import SCRIPT_DIRECTIVES, Policy
from deployer.csp.loads import Load, page_loads

# Where a derived page's origin is assumed to be: no real origin, so that an absolute URL
# on the site's own `url:` is allowed by name (the preview is not served from there).
_PAGE_ORIGIN = "https://sitedeploy.invalid"

# Sources that come with an origin a page loads from, for what the analysis cannot see:
# the fonts a Google Fonts stylesheet names, the endpoints an analytics script calls, the
# frames a comments script opens. Keys are hosts, or "*.domain" for its subdomains.
COMPANIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "fonts.googleapis.com": {"font-src": ("https://fonts.gstatic.com",)},
    "www.googletagmanager.com": {
        "connect-src": (
            "https://*.google-analytics.com",
            "https://*.analytics.google.com",
            "https://*.googletagmanager.com",
        ),
        "img-src": ("https://*.google-analytics.com", "https://*.googletagmanager.com"),
    },
    "www.google-analytics.com": {
        "connect-src": ("https://*.google-analytics.com", "https://*.analytics.google.com"),
    },
    "*.disqus.com": {
        "script-src": ("https://c.disquscdn.com",),
        "style-src": ("https://c.disquscdn.com",),
        "frame-src": ("https://disqus.com",),
        "connect-src": ("https://links.services.disqus.com",),
    },
    "giscus.app": {"frame-src": ("https://giscus.app",)},
    "utteranc.es": {"frame-src": ("https://utteranc.es",)},
    "buttons.github.io": {"connect-src": ("https://api.github.com",)},
    "platform.twitter.com": {
        "frame-src": ("https://platform.twitter.com", "https://syndication.twitter.com"),
        "script-src": ("https://cdn.syndication.twimg.com",),
    },
    "cdn.jsdelivr.net": {"font-src": ("https://cdn.jsdelivr.net",)},
    "cdnjs.cloudflare.com": {"font-src": ("https://cdnjs.cloudflare.com",)},
    "unpkg.com": {"font-src": ("https://unpkg.com",)},
    "use.fontawesome.com": {"font-src": ("https://use.fontawesome.com",)},
    "kit.fontawesome.com": {
        "font-src": ("https://ka-f.fontawesome.com",),
        "connect-src": ("https://ka-f.fontawesome.com",),
    },
    "use.typekit.net": {
        "font-src": ("https://use.typekit.net",),
        "img-src": ("https://p.typekit.net",),
    },
}

# The directive a derived source is written under, for each directive a load is checked
# against (the -elem and -attr variants fall back to these).
_WRITTEN = {
    "script-src-elem": "script-src",
    "script-src-attr": "script-src",
    "style-src-elem": "style-src",
    "style-src-attr": "style-src",
}
# What the summary calls the sources of each directive.
_NOUNS = {
    "script-src": "scripts from",
    "style-src": "styles from",
    "font-src": "fonts from",
    "img-src": "images from",
    "media-src": "media from",
    "frame-src": "frames from",
    "connect-src": "connections to",
    "form-action": "forms to",
    "object-src": "objects from",
    "manifest-src": "manifests from",
    "worker-src": "workers from",
    "base-uri": "base URLs",
}


@dataclass(frozen=True)
class CspSettings:
    """`[csp]` in sitedeploy.toml."""

    derive: bool = True  # mode "derived"; False: "strict", the runtime's self-only policy
    allow: tuple[tuple[str, tuple[str, ...]], ...] = ()  # directive -> sources, every page
    companions: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...] = ()

    def companion_table(self) -> dict[str, dict[str, tuple[str, ...]]]:
        table = {host: dict(sources) for host, sources in COMPANIONS.items()}
        for host, sources in self.companions:
            table.setdefault(host, {}).update(dict(sources))
        return table


@dataclass(frozen=True)
class Allowed:
    """One source a derived policy allows, and why."""

    directive: str
    source: str
    why: str  # "script src", "inline script", "comes with fonts.googleapis.com", "[csp] allow"
    page: str  # the first page that needed it (a URL path; "" for every page)
    line: int
    pages: int  # how many pages need it

    def as_dict(self) -> dict[str, object]:
        return {
            "directive": self.directive,
            "source": self.source,
            "why": self.why,
            "page": self.page,
            "line": self.line,
            "pages": self.pages,
        }


@dataclass(frozen=True)
class Unallowed:
    """Something a page runs that no derived policy allows (a `javascript:` URL, a
    `data:` script): it stays blocked, and the check names it."""

    page: str
    line: int
    what: str


@dataclass(frozen=True)
class SitePolicy:
    """The Content-Security-Policy a site's image sends: a default for every response,
    and a policy of its own for each page that needs more than the default."""

    mode: str  # "derived", "strict", or "own" (the site's [headers] value; "" sends none)
    default: str
    pages: dict[str, str] = field(default_factory=dict)  # URL path -> policy
    allowed: tuple[Allowed, ...] = ()
    unallowed: tuple[Unallowed, ...] = ()

    def summary(self) -> str:
        """One line: what the policy allows beyond the site's own origin."""
        if self.mode == "own":
            return (
                "CSP: the site's own, from [headers]"
                if self.default
                else "CSP: none ([headers] removes it)"
            )
        if self.mode == "strict":
            return "CSP: strict ([csp] mode): the site's own origin only, no inline scripts"
        parts: list[str] = []
        origins: dict[str, list[str]] = {}
        for allowed in self.allowed:
            if allowed.source.startswith("'"):
                continue
            host = urlsplit(allowed.source).netloc or allowed.source
            origins.setdefault(allowed.directive, [])
            if host not in origins[allowed.directive]:
                origins[allowed.directive].append(host)
        scripts = {a.source for a in self.allowed if a.why == "inline script"}
        handlers = {a.source for a in self.allowed if a.why.endswith(" handler")}
        for directive, hosts in origins.items():
            if directive == "script-src":
                parts.insert(0, f"{_NOUNS[directive]} {', '.join(hosts)}")
            else:
                parts.append(f"{_NOUNS.get(directive, directive)} {', '.join(hosts)}")
        hashed = []
        if scripts:
            hashed.append(f"{len(scripts)} inline script{'s' if len(scripts) != 1 else ''}")
        if handlers:
            hashed.append(f"{len(handlers)} event handler{'s' if len(handlers) != 1 else ''}")
        if hashed:
            parts.insert(1 if origins.get("script-src") else 0, f"{' and '.join(hashed)} by hash")
        if self.unallowed:
            parts.append(f"{len(self.unallowed)} javascript: URLs or data: scripts stay blocked")
        if not parts:
            return "CSP: strict: the pages load nothing from elsewhere and run no inline script"
        return "CSP: " + "; ".join(parts)

    def as_dict(self, limit: int = 200) -> dict[str, object]:
        """For labels and --json: the policies and where each source came from (hash
        sources past `limit` are counted, not listed: a label has to stay small)."""
        origins = [a for a in self.allowed if not a.source.startswith("'sha")]
        hashes = [a for a in self.allowed if a.source.startswith("'sha")]
        shown = hashes[: max(0, limit - len(origins))]
        return {
            "mode": self.mode,
            "summary": self.summary(),
            "default": self.default,
            "pages_with_own_policy": len(self.pages),
            "allowed": [a.as_dict() for a in [*origins, *shown]],
            "hashes_not_listed": len(hashes) - len(shown),
            "unallowed": [u.__dict__ for u in self.unallowed],
        }

    def label(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))


def source_for(url: str) -> str | None:
    """The source expression that allows `url`: its origin (no scheme for a
    scheme-relative URL, so that it works on http and https alike), or its scheme for
    data: URLs; None for what no origin allows."""
    if url.endswith(":") and "/" not in url:
        return url  # "data:", "blob:"
    parts = urlsplit(url if not url.startswith("//") else "https:" + url)
    if not parts.hostname or parts.scheme not in {"http", "https", "ws", "wss"}:
        return None
    host = parts.netloc.rsplit("@", 1)[-1].lower()
    return host if url.startswith("//") else f"{parts.scheme}://{host}"


def _companion_sources(
    table: dict[str, dict[str, tuple[str, ...]]], host: str
) -> dict[str, tuple[str, ...]]:
    found = dict(table.get(host, {}))
    for pattern, sources in table.items():
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            found.update(sources)
    return found


class _Deriver:
    """Adds sources to one page's policy, keeping where each came from."""

    def __init__(self, base: Policy, page: str, record: Callable[[Allowed], None]) -> None:
        self.policy = base
        self.page = page
        self.record = record

    def add(self, directive: str, source: str, why: str, line: int) -> None:
        current = self.policy.get(directive) or ()
        if source in current:
            return
        example = source.replace("*.", "a.", 1)
        if "://" in example and self.policy.allows_url(directive, example + "/", _PAGE_ORIGIN):
            return  # already allowed (an https: image source covers every https origin)
        self.policy = self.policy.adding(directive, [source])
        self.record(Allowed(directive, source, why, self.page, line, 1))


def derive_page(
    loads: Iterable[Load],
    page: str,
    base: Policy,
    settings: CspSettings,
    record: Callable[[Allowed], None],
    unallowed: Callable[[Unallowed], None],
) -> Policy:
    """The policy of one page (URL path `page`): `base` plus what its loads need."""
    deriver = _Deriver(base, page, record)
    companions = settings.companion_table()
    page_url = _PAGE_ORIGIN + page
    for load in loads:
        written = _WRITTEN.get(load.directive, load.directive)
        if load.url is None:  # inline
            if deriver.policy.allows_inline(load.directive, load.digest):
                continue
            if load.digest is None or written not in SCRIPT_DIRECTIVES:
                # A javascript: URL (no hash allows it); inline styles are allowed by the
                # base ('unsafe-inline'), which a hash would switch off for every page.
                unallowed(Unallowed(page, load.line, load.what))
                continue
            if load.directive.endswith("-attr"):
                deriver.add(written, "'unsafe-hashes'", "event handlers by hash", load.line)
            deriver.add(written, f"'{load.digest}'", load.what, load.line)
            continue
        url = urljoin(page_url, load.url)
        if deriver.policy.allows_url(load.directive, url, page_url):
            continue
        source = source_for(load.url if load.url.startswith("//") else url)
        if source is None or (written in SCRIPT_DIRECTIVES and source.endswith(":")):
            unallowed(Unallowed(page, load.line, f"{load.what} {load.url}"))
            continue
        deriver.add(written, source, load.what, load.line)
        host = urlsplit(url).hostname or ""
        for directive, sources in _companion_sources(companions, host).items():
            for companion in sources:
                deriver.add(directive, companion, f"comes with {host}", load.line)
    for directive, sources in settings.allow:
        for source in sources:
            deriver.add(directive, source, "[csp] allow", 0)
    return deriver.policy


# One page's derivation, kept by `up --watch` between saves: (its HTML's digest, its
# policy, what it allowed, what stayed blocked).
PageMemo = dict[str, tuple[str, Policy, list[Allowed], list[Unallowed]]]


def derive_site_policy(
    pages: dict[str, bytes],
    base: Policy,
    settings: CspSettings,
    stylesheet: Callable[[str], str | None],
    memo: PageMemo | None = None,
) -> SitePolicy:
    """The derived policy of every page (`pages`: URL path -> HTML), and the default for
    every other response: the base plus `[csp] allow`. With `memo`, a page whose HTML is
    unchanged is not analysed again (the caller empties it when a stylesheet changed)."""
    allowed: dict[tuple[str, str], Allowed] = {}
    counted: dict[tuple[str, str], set[str]] = {}
    unallowed: list[Unallowed] = []

    def record(entry: Allowed) -> None:
        key = (entry.directive, entry.source)
        allowed.setdefault(key, entry)
        counted.setdefault(key, set()).add(entry.page)

    quiet = CspSettings(derive=True, allow=(), companions=settings.companions)
    default = derive_page((), "/", base, settings, lambda _: None, lambda _: None)
    policies: dict[str, str] = {}
    for page in sorted(pages):
        digest = hashlib.sha256(pages[page]).hexdigest()
        if memo is not None and page in memo and memo[page][0] == digest:
            _, policy, recorded, blocked = memo[page]
        else:
            recorded, blocked = [], []
            loads = page_loads(pages[page], page, stylesheet)
            policy = derive_page(loads, page, base, quiet, recorded.append, blocked.append)
            if memo is not None:
                memo[page] = (digest, policy, recorded, blocked)
        for entry in recorded:
            record(entry)
        unallowed.extend(blocked)
        for directive, sources in settings.allow:
            policy = policy.adding(directive, list(sources))
        if str(policy) != str(default):
            policies[page] = str(policy)
    for directive, sources in settings.allow:
        for source in sources:
            allowed[(directive, source)] = Allowed(directive, source, "[csp] allow", "", 0, 0)
    entries = tuple(
        Allowed(a.directive, a.source, a.why, a.page, a.line, len(counted.get(key, ())) or a.pages)
        for key, a in allowed.items()
    )
    return SitePolicy("derived", str(default), policies, entries, tuple(unallowed))
