"""What a check finds, and how serious each kind is.

One finding model for every check (deployment, links, browser). Severity depends on who
asks: a dead link is an error for `sitedeploy check`, but only a warning for `up` (the
site's own defect does not make a deployment broken) unless `up --strict`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Group(enum.Enum):
    """Whose fault a finding is, which decides its severity."""

    DEPLOYMENT = "deployment"  # the deployment does not serve what was built: an error
    SITE = "site"  # the site itself is broken: an error in `check`, in `up` only if strict
    NOTICE = "notice"  # worth knowing, never failing: a warning
    INFO = "info"  # listed, not judged

    @property
    def severity(self) -> Severity:
        return {
            Group.DEPLOYMENT: Severity.ERROR,
            Group.SITE: Severity.ERROR,
            Group.NOTICE: Severity.WARNING,
            Group.INFO: Severity.INFO,
        }[self]


class Kind(enum.StrEnum):
    """Every kind of finding, each with its group: a new kind cannot lack a severity."""

    group: Group

    def __new__(cls, value: str, group: Group) -> Kind:
        member = str.__new__(cls, value)
        member._value_ = value
        member.group = group
        return member

    UNREACHABLE = "unreachable", Group.DEPLOYMENT
    NOT_SERVED = "not-served", Group.DEPLOYMENT
    WRONG_BYTES = "wrong-bytes", Group.DEPLOYMENT
    WRONG_TYPE = "wrong-type", Group.DEPLOYMENT
    MISSING_CHARSET = "missing-charset", Group.DEPLOYMENT
    NOT_FOUND_PAGE = "not-found-page", Group.DEPLOYMENT
    SERVED_SECRET = "served-secret", Group.DEPLOYMENT
    WRONG_REDIRECT = "wrong-redirect", Group.DEPLOYMENT  # one the image promises
    BROKEN_LINK = "broken-link", Group.SITE
    BAD_FRAGMENT = "bad-fragment", Group.SITE
    REDIRECT_LOOP = "redirect-loop", Group.SITE
    BROKEN_REDIRECT = "broken-redirect", Group.SITE
    EXTERNAL_BROKEN = "external-broken", Group.SITE
    CONSOLE_ERROR = "console-error", Group.SITE
    PAGE_ERROR = "page-error", Group.SITE
    FAILED_REQUEST = "failed-request", Group.SITE
    CSP_VIOLATION = "csp-violation", Group.SITE  # seen in Chromium
    CSP_BLOCKED = "csp-blocked", Group.SITE  # the served policy blocks what a page loads
    ORPHAN = "orphan", Group.NOTICE
    REDIRECT = "redirect", Group.NOTICE
    NOT_SERVED_BY_POLICY = "not-served-by-policy", Group.NOTICE
    EXTERNAL = "external", Group.INFO

    @property
    def severity(self) -> Severity:
        return self.group.severity


@dataclass(frozen=True)
class Finding:
    kind: Kind
    url: str
    detail: str
    referrer: str | None = None
    severity: Severity | None = None  # None: the kind's own
    directive: str | None = None  # CSP findings: the directive that blocks it

    @property
    def level(self) -> Severity:
        return self.severity or self.kind.severity

    def as_dict(self) -> dict[str, str | None]:
        found = {
            "kind": str(self.kind),
            "severity": self.level.value,
            "url": self.url,
            "referrer": self.referrer,
            "detail": self.detail,
        }
        if self.directive:
            found["directive"] = self.directive
        return found

    def __str__(self) -> str:
        where = f" (from {self.referrer})" if self.referrer else ""
        return f"{self.kind}: {self.url}{where}: {self.detail}"


@dataclass
class CheckReport:
    url: str
    files_checked: int = 0
    links_checked: int = 0
    redirects_checked: int = 0  # the image's own (its base path, moved pages)
    pages_in_browser: int = 0
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    notes: tuple[str, ...] = ()  # what the reader should know beside the findings

    def of(self, level: Severity) -> list[Finding]:
        return [f for f in self.findings if f.level is level]

    @property
    def errors(self) -> list[Finding]:
        return self.of(Severity.ERROR)

    @property
    def warnings(self) -> list[Finding]:
        return self.of(Severity.WARNING)

    @property
    def healthy(self) -> bool:
        return not self.errors

    def for_up(self, *, strict: bool) -> CheckReport:
        """The same findings as `up` weighs them: site defects are warnings unless strict."""
        if strict:
            return self
        findings = [
            replace(f, severity=Severity.WARNING) if f.kind.group is Group.SITE else f
            for f in self.findings
        ]
        return replace(self, findings=findings)

    def rebased(self, old: str, new: str) -> CheckReport:
        """The report with URLs on `old` (a container's own port) shown on `new`."""

        def move(text: str | None) -> str | None:
            return text.replace(old, new) if text else text

        findings = [
            replace(
                f, url=move(f.url) or f.url, referrer=move(f.referrer), detail=move(f.detail) or ""
            )
            for f in self.findings
        ]
        return replace(self, url=new, findings=findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "files_checked": self.files_checked,
            "links_checked": self.links_checked,
            "redirects_checked": self.redirects_checked,
            "pages_in_browser": self.pages_in_browser,
            "seconds": round(self.seconds, 2),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.as_dict() for f in self.findings],
            "notes": list(self.notes),
        }
