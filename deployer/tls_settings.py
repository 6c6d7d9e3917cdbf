"""`[tls]` in sitedeploy.toml (and the flags that set the same keys): the host names a
live site answers on over HTTPS, where its certificate comes from (an ACME directory and
the challenge it validates with, or a certificate and key the user gives), and its HSTS.

Each key is checked on its own (`tls_values`), then the keys together (`tls_settings`):
names a certificate can be issued for, a given certificate with its key, a canonical
name among the names. The certificate files themselves are read by `certs.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer import config_checks as checks
from deployer.suggest import did_you_mean

TLS_SECTION = "tls"
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
HSTS_SECONDS = 15_552_000  # 180 days: modest, so turning HTTPS off again strands nobody long
HSTS_PRELOAD_SECONDS = 63_072_000  # two years: what the preload list asks for
EAB_HMAC_ENV = "SITEDEPLOY_ACME_EAB_HMAC"  # the EAB key is a secret: never in the file
HTTP_01, TLS_ALPN_01 = "http-01", "tls-alpn-01"  # the ACME challenges a front answers

# RFC 1123 host names, lower case, at least two labels; a wildcard only as the first label.
_NAME = re.compile(r"^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_EMAIL = re.compile(r"^[^@\s\"<>]+@[^@\s\"<>]+\.[^@\s\"<>]+$")
_DIRECTORY = re.compile(r"^https://[^\s/@]+(/\S*)?$")


@dataclass(frozen=True)
class TlsSettings:
    """HTTPS for a live site (nothing set: the site is served over plain HTTP)."""

    domains: tuple[str, ...] = ()
    acme_email: str | None = None
    acme_directory: str = LETS_ENCRYPT
    acme_ca: str | None = None  # CA certificates to trust for the directory (a company CA's)
    acme_eab_kid: str | None = None  # External Account Binding (ZeroSSL, company CAs)
    acme_challenge: str = HTTP_01  # or TLS_ALPN_01: validated on the HTTPS port, not 80
    cert: Path | None = None  # a certificate chain the user gives (PEM) …
    key: Path | None = None  # … and its private key
    hsts: int | str = HSTS_SECONDS  # max-age in seconds; "preload"; 0: no HSTS
    canonical: str | None = None  # the one name the others 301 to (www. to the apex …)
    https_port: int | None = None  # None: 443

    @property
    def enabled(self) -> bool:
        return bool(self.domains) or self.cert is not None

    @property
    def acme(self) -> bool:
        """Certificates come from an ACME directory (no certificate was given)."""
        return self.enabled and self.cert is None

    def hsts_header(self) -> str | None:
        """The Strict-Transport-Security value, or None (off)."""
        if self.hsts == "preload":
            return f"max-age={HSTS_PRELOAD_SECONDS}; includeSubDomains; preload"
        if isinstance(self.hsts, int) and self.hsts > 0:
            return f"max-age={self.hsts}"
        return None


def _hsts(value: Any) -> str | None:
    if value in (True, False, "preload"):
        return None
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value <= 10 * HSTS_PRELOAD_SECONDS
    ):
        return None
    return f'expected true, false, "preload" or a max-age in seconds, got {value!r}'


def _name(value: Any) -> str | None:
    if isinstance(value, str) and _NAME.match(value):
        return None
    return f"expected a host name such as www.example.com (lower case), got {value!r}"


_KEYS: dict[str, checks.Check] = {
    "domains": checks.string_list(_name, "host names"),
    "acme_email": checks.string(_EMAIL, "an e-mail address"),
    "acme_directory": checks.string(_DIRECTORY, "the https:// URL of an ACME directory"),
    "acme_ca": checks.string(re.compile(r"^\S+$"), "a file of CA certificates (PEM)"),
    "acme_eab_kid": checks.string(re.compile(r"^[\w.-]+$"), "an EAB key id"),
    "acme_challenge": checks.string(
        re.compile(f"^({HTTP_01}|{TLS_ALPN_01})$"), f'"{HTTP_01}" or "{TLS_ALPN_01}"'
    ),
    "cert": checks.string(re.compile(r"^\S.*$"), "a certificate file (PEM)"),
    "key": checks.string(re.compile(r"^\S.*$"), "a private key file (PEM)"),
    "hsts": _hsts,
    "canonical": _name,
    "https_port": checks.port,
}
TLS_KEYS = tuple(_KEYS)


def tls_values(
    table: Mapping[str, Any], place: Callable[[str], str]
) -> tuple[dict[str, Any], list[str]]:
    """Each key of `[tls]` (or of its flags) checked on its own: the good values, every
    problem (named by `place`)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in table.items():
        check = _KEYS.get(key)
        if check is None:
            problems.append(f"{place(key)}: unknown key [tls] {key}{did_you_mean(key, TLS_KEYS)}")
            continue
        problem = check(value)
        if problem:
            problems.append(f"{place(key)}: [tls] {key}: {problem}")
        else:
            values[key] = value
    return values, problems


def tls_settings(
    values: Mapping[str, Any], site_dir: Path, place: Callable[[str], str]
) -> tuple[TlsSettings, list[str]]:
    """The keys together: files found (relative to the site folder), a certificate given
    with its key, ACME's names and e-mail, a canonical name among the names."""
    problems: list[str] = []
    found = dict(values)
    for key in ("cert", "key", "acme_ca"):
        if key in found:
            path = (site_dir / str(found[key])).resolve()
            if not path.is_file():
                problems.append(f"{place(key)}: [tls] {key}: {path} is not a file")
            found[key] = path
    if found.get("acme_ca") is not None:
        found["acme_ca"] = str(found["acme_ca"])
    if ("cert" in found) != ("key" in found):
        have, lacking = ("cert", "key") if "cert" in found else ("key", "cert")
        problems.append(
            f"{place(have)}: [tls] {have} is set without [tls] {lacking}: a certificate is "
            "given with its private key (set both), or comes from ACME (set neither)"
        )
    if "cert" in found and any(k.startswith("acme_") for k in found):
        acme = next(k for k in found if k.startswith("acme_"))
        problems.append(
            f"{place(acme)}: [tls] {acme} is set with a given certificate ([tls] cert): "
            "remove one of them (a given certificate is not renewed by ACME)"
        )
    domains = tuple(found.get("domains", ()))
    wildcard = next((name for name in domains if name.startswith("*.")), None)
    if wildcard and "cert" not in found:
        problems.append(
            f"{place('domains')}: [tls] domains: {wildcard} needs a DNS challenge, which "
            "sitedeploy does not answer: give the wildcard certificate ([tls] cert and key)"
        )
    if len(set(domains)) != len(domains):
        problems.append(f"{place('domains')}: [tls] domains: a name is listed twice")
    if domains and "cert" not in found and "acme_email" not in found:
        problems.append(
            f"{place('domains')}: [tls] domains are set without [tls] acme_email: the ACME "
            "directory needs an address for expiry notices (or give [tls] cert and key)"
        )
    if "acme_email" in found and not domains:
        problems.append(
            f"{place('acme_email')}: [tls] acme_email is set without [tls] domains: name the "
            "host names to get a certificate for"
        )
    canonical = found.get("canonical")
    if canonical is not None and canonical not in domains:
        problems.append(
            f"{place('canonical')}: [tls] canonical: {canonical} is not one of [tls] domains"
        )
    hsts = found.get("hsts", True)
    found["hsts"] = HSTS_SECONDS if hsts is True else 0 if hsts is False else hsts
    found["domains"] = domains
    if problems:
        return TlsSettings(), problems
    return TlsSettings(**found), []
