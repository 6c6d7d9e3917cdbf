"""A Content-Security-Policy: parsed, written back, and asked what it allows.

The matching follows CSP Level 3 as browsers implement it: a fetch directive falls back
to the directives the specification names (`frame-src` -> `child-src` -> `default-src`),
`form-action` and `base-uri` have no fallback, a host source without a scheme takes the
page's scheme (and its upgrade to https), `'self'` is the page's origin, and an inline
script or style runs only under `'unsafe-inline'` (ignored as soon as a hash or nonce is
present) or a matching hash (for attributes, with `'unsafe-hashes'`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# Each fetch directive, and the directives a browser consults for it, in order.
FALLBACKS: dict[str, tuple[str, ...]] = {
    "script-src-elem": ("script-src-elem", "script-src", "default-src"),
    "script-src-attr": ("script-src-attr", "script-src", "default-src"),
    "style-src-elem": ("style-src-elem", "style-src", "default-src"),
    "style-src-attr": ("style-src-attr", "style-src", "default-src"),
    "img-src": ("img-src", "default-src"),
    "font-src": ("font-src", "default-src"),
    "media-src": ("media-src", "default-src"),
    "connect-src": ("connect-src", "default-src"),
    "manifest-src": ("manifest-src", "default-src"),
    "object-src": ("object-src", "default-src"),
    "frame-src": ("frame-src", "child-src", "default-src"),
    "worker-src": ("worker-src", "child-src", "script-src", "default-src"),
    "form-action": ("form-action",),
    "base-uri": ("base-uri",),
}
# The directives a policy may name (fetch directives and the document/navigation ones).
DIRECTIVES = frozenset(
    {
        *(name for chain in FALLBACKS.values() for name in chain),
        "frame-ancestors", "upgrade-insecure-requests", "block-all-mixed-content",
        "sandbox", "report-uri", "report-to", "require-trusted-types-for", "trusted-types",
    }
)  # fmt: skip
SCRIPT_DIRECTIVES = frozenset({"script-src", "script-src-elem", "script-src-attr"})

_HASH = re.compile(r"^'(sha256|sha384|sha512)-[A-Za-z0-9+/_-]+={0,2}'$", re.IGNORECASE)
_NONCE = re.compile(r"^'nonce-[^']+'$", re.IGNORECASE)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):$", re.IGNORECASE)
_HOST_SOURCE = re.compile(
    r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?"
    r"(?P<host>\*|(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*)"
    r"(?::(?P<port>[0-9]+|\*))?"
    r"(?P<path>/[^?#]*)?$",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def is_hash(source: str) -> bool:
    return bool(_HASH.match(source))


def is_source(source: str) -> bool:
    """True if `source` is a source expression a policy can hold."""
    lowered = source.lower()
    if lowered in {
        "'self'", "'none'", "'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'",
        "'strict-dynamic'", "'wasm-unsafe-eval'", "'report-sample'", "*",
    }:  # fmt: skip
        return True
    return bool(
        _HASH.match(source)
        or _NONCE.match(source)
        or _SCHEME.match(source)
        or _HOST_SOURCE.match(source)
    )


@dataclass(frozen=True)
class Policy:
    """A policy's directives, in the order written; each a tuple of source expressions."""

    directives: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def parse(cls, text: str) -> Policy:
        """A policy from header text; a repeated directive keeps its first occurrence,
        as browsers do."""
        found: dict[str, tuple[str, ...]] = {}
        for part in text.split(";"):
            tokens = part.split()
            if tokens and tokens[0].lower() not in found:
                found[tokens[0].lower()] = tuple(tokens[1:])
        return cls(tuple(found.items()))

    def __str__(self) -> str:
        return "; ".join(" ".join((name, *sources)) for name, sources in self.directives)

    def get(self, directive: str) -> tuple[str, ...] | None:
        for name, sources in self.directives:
            if name == directive:
                return sources
        return None

    def governing(self, directive: str) -> tuple[str, tuple[str, ...]] | None:
        """The directive a browser consults for `directive` (after fallback), or None
        when the policy does not restrict it."""
        for name in FALLBACKS.get(directive, (directive,)):
            sources = self.get(name)
            if sources is not None:
                return name, sources
        return None

    def adding(self, directive: str, sources: list[str]) -> Policy:
        """This policy with `sources` added to `directive` (created, with the sources its
        fallback allowed, when the policy did not name it)."""
        current = self.get(directive)
        if current is None:
            inherited = self.governing(directive)
            current = inherited[1] if inherited else ()
        merged = [s for s in current if s.lower() != "'none'"] if sources else list(current)
        for source in sources:
            if source not in merged:
                merged.append(source)
        names = [name for name, _ in self.directives]
        updated = dict(self.directives)
        updated[directive] = tuple(merged)
        order = names if directive in names else [*names, directive]
        return Policy(tuple((name, updated[name]) for name in order))

    def allows_url(self, directive: str, url: str, page: str) -> bool:
        """Would a page at URL `page` be allowed to load `url` under `directive`?"""
        governing = self.governing(directive)
        if governing is None:
            return True
        return any(source_matches(source, url, page) for source in governing[1])

    def allows_inline(self, directive: str, digest: str | None) -> bool:
        """Would inline content (a `<script>`, an `onclick=`, a `javascript:` URL: digest
        None) run under `directive`? `digest` is "sha256-…" of its text."""
        governing = self.governing(directive)
        if governing is None:
            return True
        sources = [s.lower() for s in governing[1]]
        hashed = [s for s in governing[1] if _HASH.match(s)]
        pinned = hashed or any(_NONCE.match(s) for s in sources)
        strict_dynamic = "'strict-dynamic'" in sources and governing[0] in SCRIPT_DIRECTIVES
        if "'unsafe-inline'" in sources and not pinned and not strict_dynamic:
            return True
        if digest is None:
            return False
        attribute = directive.endswith("-attr")
        if attribute and "'unsafe-hashes'" not in sources:
            return False
        return f"'{digest}'" in hashed


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else _DEFAULT_PORTS.get(scheme)


def _scheme_matches(source: str, target: str) -> bool:
    """CSP's scheme-part match: http allows its upgrade to https (ws to wss)."""
    source, target = source.lower(), target.lower()
    return source == target or (source, target) in {("http", "https"), ("ws", "wss")}


def source_matches(source: str, url: str, page: str) -> bool:
    """Does one source expression allow `url` on a page at `page`?"""
    lowered = source.lower()
    target = urlsplit(url)
    scheme = target.scheme.lower()
    here = urlsplit(page)
    if lowered == "*":
        return scheme in {"http", "https", "ws", "wss"} or scheme == here.scheme.lower()
    if lowered == "'self'":
        if not target.hostname or target.hostname != here.hostname:
            return False
        if not _scheme_matches(here.scheme, scheme):
            return False
        same = _port(scheme, target.port) == _port(here.scheme.lower(), here.port)
        upgraded = here.scheme == "http" and scheme == "https" and target.port in (None, 443)
        return same or upgraded
    only_scheme = _SCHEME.match(source)
    if only_scheme:
        return _scheme_matches(only_scheme.group(1), scheme)
    match = _HOST_SOURCE.match(source)
    if match is None or not target.hostname:
        return False
    wanted_scheme = match.group("scheme")
    if wanted_scheme:
        if not _scheme_matches(wanted_scheme, scheme):
            return False
    elif not _scheme_matches(here.scheme, scheme):
        return False
    host = match.group("host").lower()
    name = target.hostname.lower()
    if host == "*":
        pass
    elif host.startswith("*."):
        if not name.endswith(host[1:]):
            return False
    elif host != name:
        return False
    port = match.group("port")
    if port != "*":
        wanted = int(port) if port else _DEFAULT_PORTS.get((wanted_scheme or scheme).lower())
        actual = _port(scheme, target.port)
        upgraded = wanted == 80 and actual == 443 and scheme == "https"
        if wanted != actual and not upgraded:
            return False
    path = match.group("path")
    if path and path != "/":
        wanted_path = path
        actual_path = target.path or "/"
        if wanted_path.endswith("/"):
            return actual_path.startswith(wanted_path)
        return actual_path == wanted_path
    return True
