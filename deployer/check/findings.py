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


# The deployment does not serve what was built: always an error.
DEPLOYMENT_KINDS = frozenset(
    {
        "unreachable",
        "not-served",
        "wrong-bytes",
        "wrong-type",
        "missing-charset",
        "not-found-page",
        "served-secret",
    }
)
# The site itself is broken: an error in `check`, a warning in `up` (unless --strict).
SITE_KINDS = frozenset(
    {
        "broken-link",
        "bad-fragment",
        "redirect-loop",
        "broken-redirect",
        "external-broken",
        "console-error",
        "page-error",
        "failed-request",
        "csp-violation",
    }
)
# Worth knowing, never failing.
WARNING_KINDS = frozenset({"orphan", "redirect", "not-served-by-policy"})
INFO_KINDS = frozenset({"external"})


def severity_of(kind: str) -> Severity:
    if kind in DEPLOYMENT_KINDS or kind in SITE_KINDS:
        return Severity.ERROR
    if kind in INFO_KINDS:
        return Severity.INFO
    if kind in WARNING_KINDS:
        return Severity.WARNING
    raise ValueError(f"unknown finding kind {kind!r}")


@dataclass(frozen=True)
class Finding:
    kind: str
    url: str
    detail: str
    referrer: str | None = None
    severity: Severity | None = None  # None: the kind's own (severity_of)

    @property
    def level(self) -> Severity:
        return self.severity or severity_of(self.kind)

    def as_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "severity": self.level.value,
            "url": self.url,
            "referrer": self.referrer,
            "detail": self.detail,
        }

    def __str__(self) -> str:
        where = f" (from {self.referrer})" if self.referrer else ""
        return f"{self.kind}: {self.url}{where}: {self.detail}"


@dataclass
class CheckReport:
    url: str
    files_checked: int = 0
    links_checked: int = 0
    pages_in_browser: int = 0
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

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
            replace(f, severity=Severity.WARNING) if f.kind in SITE_KINDS else f
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
            "pages_in_browser": self.pages_in_browser,
            "seconds": round(self.seconds, 2),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.as_dict() for f in self.findings],
        }
