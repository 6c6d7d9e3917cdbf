"""`check --browser`: open every page in a real headless Chromium, as a visitor would.

Chromium is Debian's (`/usr/bin/chromium`), driven by Playwright with `executable_path`
(Playwright's own browser download is neither needed nor used). Every request that leaves
the site's origin is blocked: a check never sends traffic elsewhere, and an external
resource shows up as an info finding instead. Reported: console errors, uncaught
exceptions, subresources that fail or answer >= 400, and Content-Security-Policy
violations (each `securitypolicyviolation` event the page fires: its directive, the
blocked URL or "inline", and the line). A CSP violation is reported before any fetch, so
the check sees them although it lets nothing leave the site's origin.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from deployer.check.findings import Finding, Kind, Severity
from deployer.errors import BrowserUnavailable

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 15_000


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserUnavailable(
        "--browser needs Chromium, and none is installed. On Debian: "
        "`sudo apt-get install chromium`; or run the check without --browser."
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def check_in_browser(
    pages: list[str], on_page: Callable[[str], None] | None = None
) -> list[Finding]:
    """Visit each page URL in headless Chromium; return what went wrong on each."""
    executable = find_chromium()
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise BrowserUnavailable(
            "--browser needs the Python package playwright: `pip install 'sitedeploy[browser]'` "
            "(it drives the installed Chromium; no browser download)."
        ) from error

    findings: list[Finding] = []
    external: dict[str, str] = {}
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        except PlaywrightError as error:
            raise BrowserUnavailable(f"Chromium at {executable} did not start: {error}") from error
        context = browser.new_context()
        origin = _origin(pages[0]) if pages else ""
        current = {"page": ""}

        def route(route: Any) -> None:
            request = route.request
            if (
                request.is_navigation_request()
                and request.frame.parent_frame is None
                and request.url != current["page"]
            ):
                # The page navigates away (a meta refresh): the link check follows those;
                # here it would only leave the page unfinished (and a refresh loop keeps
                # Playwright from ever closing it).
                route.abort("aborted")
            elif _origin(request.url) == origin:
                route.continue_()
            else:
                external.setdefault(route.request.url, current["page"])
                route.abort()

        context.route("**/*", route)
        context.add_init_script(REPORT_VIOLATIONS)
        for url in pages:
            current["page"] = url
            if on_page:
                on_page(url)
            findings.extend(_visit(context, url, origin, PlaywrightError))
        context.close()
        browser.close()
    findings.extend(
        Finding(
            Kind.EXTERNAL,
            resource,
            "external resource, not loaded in the check",
            page,
            Severity.INFO,
        )
        for resource, page in sorted(external.items())
    )
    return findings


CSP_HINT = (
    '(sitedeploy derives a policy that allows what the pages load: [csp] mode = "derived"; '
    "[csp] allow adds what only a script loads.)"
)
# Reports every CSP violation of a page to the check, from before its first script runs,
# as a console message: Playwright delivers those as events, so nothing waits on a page
# that keeps navigating (an exposed function made page.close() hang on a refresh loop).
VIOLATION_PREFIX = "sitedeploy-csp-violation "
REPORT_VIOLATIONS = f"""
document.addEventListener("securitypolicyviolation", (e) => {{
  console.debug("{VIOLATION_PREFIX}" + JSON.stringify({{directive: e.effectiveDirective,
    blocked: e.blockedURI, line: e.lineNumber, file: e.sourceFile}}));
}}, true);
"""
# Violation events are dispatched as tasks: give the last ones a moment after "load".
_SETTLE_MS = 100


def violation_finding(page: str, violation: dict[str, Any]) -> Finding:
    """A CSP violation event of `page`, as a finding."""
    blocked = str(violation.get("blocked") or "inline")
    directive = str(violation.get("directive") or "")
    line = violation.get("line")
    where = f"{page} line {line}" if line else page
    return Finding(
        Kind.CSP_VIOLATION,
        blocked,
        f"Chromium blocked it: {directive}. {CSP_HINT}",
        where,
        directive=directive,
    )


def _visit(context: Any, url: str, origin: str, error_type: type[Exception]) -> list[Finding]:
    found: list[Finding] = []
    page = context.new_page()

    def console(message: Any) -> None:
        text = str(message.text)
        if text.startswith(VIOLATION_PREFIX):
            found.append(violation_finding(url, json.loads(text[len(VIOLATION_PREFIX) :])))
            return
        if message.type != "error":
            return
        # CSP violations come from their events; failed loads are failed-request findings.
        if "Content Security Policy" not in text and not text.startswith("Failed to load"):
            found.append(Finding(Kind.CONSOLE_ERROR, url, text))

    def page_error(error: Any) -> None:
        found.append(Finding(Kind.PAGE_ERROR, url, f"uncaught exception: {error}"))

    def request_failed(request: Any) -> None:
        # ERR_ABORTED: the page navigated away (a meta refresh) before this finished.
        if _origin(request.url) == origin and "ERR_ABORTED" not in str(request.failure):
            found.append(
                Finding(Kind.FAILED_REQUEST, request.url, f"failed: {request.failure}", url)
            )

    def response(answer: Any) -> None:
        if answer.status >= 400 and answer.url != url and _origin(answer.url) == origin:
            found.append(Finding(Kind.FAILED_REQUEST, answer.url, f"status {answer.status}", url))

    page.on("console", console)
    page.on("pageerror", page_error)
    page.on("requestfailed", request_failed)
    page.on("response", response)
    try:
        page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_timeout(_SETTLE_MS)
    except error_type as error:
        found.append(Finding(Kind.PAGE_ERROR, url, f"the page did not load: {error}"))
    finally:
        page.close()
    return found
