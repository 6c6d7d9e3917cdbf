import pytest

from deployer.check.findings import CheckReport, Finding, Group, Kind, Severity


def test_every_kind_has_a_severity() -> None:
    for kind in Kind:
        assert isinstance(kind.group, Group)
        assert kind.severity is kind.group.severity


@pytest.mark.parametrize(
    ("kind", "severity"),
    [
        (Kind.WRONG_BYTES, Severity.ERROR),
        (Kind.BROKEN_LINK, Severity.ERROR),
        (Kind.ORPHAN, Severity.WARNING),
        (Kind.EXTERNAL, Severity.INFO),
    ],
)
def test_severity_by_kind(kind: Kind, severity: Severity) -> None:
    assert Finding(kind, "http://x/", "d").level is severity


def _report() -> CheckReport:
    base = "http://127.0.0.1:49153"
    return CheckReport(
        url=base,
        files_checked=3,
        findings=[
            Finding(
                Kind.BROKEN_LINK, f"{base}/gone.html", "status 404", f"{base}/ line 3 (a href)"
            ),
            Finding(Kind.NOT_SERVED, f"{base}/a.css", f"status 500 at {base}/a.css, expected 200"),
            Finding(Kind.ORPHAN, f"{base}/lonely.html", "no page of the site links here"),
        ],
    )


def test_up_weighs_site_defects_as_warnings_unless_strict() -> None:
    report = _report()
    assert [f.kind for f in report.errors] == [Kind.BROKEN_LINK, Kind.NOT_SERVED]
    lenient = report.for_up(strict=False)
    assert [f.kind for f in lenient.errors] == [Kind.NOT_SERVED]
    assert [f.kind for f in lenient.warnings] == [Kind.BROKEN_LINK, Kind.ORPHAN]
    assert report.for_up(strict=True).errors == report.errors


def test_rebased_names_every_url_on_the_users_port() -> None:
    moved = _report().rebased("http://127.0.0.1:49153", "http://127.0.0.1:8080")
    assert moved.url == "http://127.0.0.1:8080"
    link, served, orphan = moved.findings
    assert link.url == "http://127.0.0.1:8080/gone.html"
    assert link.referrer == "http://127.0.0.1:8080/ line 3 (a href)"
    assert served.detail == "status 500 at http://127.0.0.1:8080/a.css, expected 200"
    assert orphan.referrer is None
    assert "49153" not in str(moved.as_dict())


def test_as_dict_and_text() -> None:
    finding = _report().findings[0]
    assert finding.as_dict() == {
        "kind": "broken-link",
        "severity": "error",
        "url": "http://127.0.0.1:49153/gone.html",
        "referrer": "http://127.0.0.1:49153/ line 3 (a href)",
        "detail": "status 404",
    }
    assert str(finding) == (
        "broken-link: http://127.0.0.1:49153/gone.html "
        "(from http://127.0.0.1:49153/ line 3 (a href)): status 404"
    )
    summary = _report().as_dict()
    assert (summary["errors"], summary["warnings"]) == (2, 1)
