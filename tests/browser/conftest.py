"""Headless Chromium (Debian's /usr/bin/chromium) driven through Playwright's sync API.

CI installs Chromium with apt and sets CI; there a missing browser is a failure, not a skip.

The relying party's origin (https://rp.example.test) never resolves; every request to it is
answered locally with a tiny HTML page so the final redirect can be observed. That is done
with the DevTools Fetch domain on a CDP session of the page rather than ``page.route``:
Playwright hands a route handler only the first URL of a redirect chain and lets redirected
requests through unrouted (they then fail with ERR_NAME_NOT_RESOLVED), and the IdP reaches
the relying party precisely by redirecting. Fetch.requestPaused also fires for redirects.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RP_ORIGIN = "https://rp.example.test"
RP_PAGE = "<!doctype html><title>Relying party</title><h1>Relying party callback</h1>"

# Runs in every document before its own scripts (CDP injection, not subject to the page's CSP).
# Chromium reports each CSP violation as a DOM event as well as on the console; keep both.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI,
                               sample: e.sample, source: e.sourceFile, line: e.lineNumber});
});
"""


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing; install it with `apt-get install -y chromium`"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so browser tests may not be skipped)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="package")
def _allow_db_beside_playwright():
    """Playwright's sync API keeps an asyncio loop registered on the main thread; Django
    would then refuse the (synchronous) ORM calls fixtures and tests make there."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def chromium(_allow_db_beside_playwright):
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageLog:
    """What a page reported while a test ran."""

    console: list = field(default_factory=list)  # (type, text, url)
    rp_requests: list = field(default_factory=list)  # document URLs answered for the relying party
    rp_pages: dict = field(default_factory=dict)  # path -> (headers, body) overriding RP_PAGE
    failed: list = field(default_factory=list)  # (url, error) of requests that did not complete

    def csp_console_errors(self) -> list[str]:
        return [text for kind, text, _url in self.console
                if "Content Security Policy" in text or "Content-Security-Policy" in text]


def submit(page, selector: str) -> None:
    """Click what loads a new page (a form's button, a link) and wait until that page has loaded.

    A bare ``page.click`` returns once the navigation has started; a check made right after it
    can read the old page, or a new one not yet parsed (a registration test failed so in CI)."""
    with page.expect_navigation():
        page.click(selector)


def wait_until(page, predicate, timeout_ms: int = 5_000) -> bool:
    """Let the page's events flow until ``predicate()`` holds (or the time is up)."""
    for _ in range(timeout_ms // 50):
        if predicate():
            return True
        page.wait_for_timeout(50)
    return predicate()


def _answer_relying_party(cdp, log: PageLog):
    def on_paused(event: dict) -> None:
        url = event["request"]["url"]
        if event.get("resourceType") != "Document":
            status, headers, body = 404, {"Content-Type": "text/plain"}, "not found"
        else:
            log.rp_requests.append(url)
            path = url[len(RP_ORIGIN):].split("?", 1)[0]
            headers, body = log.rp_pages.get(path, ({}, RP_PAGE))
            status, headers = 200, {"Content-Type": "text/html; charset=utf-8", **headers}
        cdp.send("Fetch.fulfillRequest", {
            "requestId": event["requestId"],
            "responseCode": status,
            "responseHeaders": [{"name": k, "value": v} for k, v in headers.items()],
            "body": base64.b64encode(body.encode()).decode(),
        })

    return on_paused


@pytest.fixture
def page(chromium, live_server):
    """A fresh browser context (no cookies) whose relying-party requests are answered locally."""
    context = chromium.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    tab = context.new_page()
    log = PageLog()
    tab.on("console", lambda msg: log.console.append((msg.type, msg.text, tab.url)))
    tab.on("requestfailed", lambda req: log.failed.append((req.url, req.failure)))
    cdp = context.new_cdp_session(tab)
    cdp.on("Fetch.requestPaused", _answer_relying_party(cdp, log))
    cdp.send("Fetch.enable", {"patterns": [{"urlPattern": f"{RP_ORIGIN}/*", "requestStage": "Request"}]})
    tab.log = log  # type: ignore[attr-defined]
    yield tab
    settle(context)
    context.close()


def settle(context) -> None:
    """Let each tab's requests finish before the test's database is flushed: a sign-in page's
    passkey autofill fetches its challenge after load, and a request the live server is still
    serving during the flush's TRUNCATE deadlocks with it."""
    for open_tab in context.pages:
        try:
            open_tab.wait_for_load_state("networkidle", timeout=5_000)
        except Exception:  # noqa: BLE001, S110 (a tab that never settles is closed all the same)
            pass
