"""What people expect of the sign-in pages, seen from a real browser: the organisation's own
look (name, logo, colour) with the CSP unchanged, their language, pages a screen reader and
a keyboard can use, and a phone's width.

The last tests need no browser: the branding stylesheet's view and the language choice.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from django.utils import translation

from accounts.factors import confirm_totp, start_totp_enrolment, totp_secret_text
from accounts.views import INVALID_CODE, INVALID_CREDENTIALS
from tenants.branding import (
    BLACK,
    DEFAULT_PRIMARY,
    WHITE,
    contrast_ratio,
    parse_color,
    readable_on_white,
    stylesheet,
    text_on,
)
from tenants.context import tenant_context
from tenants.locale import from_ui_locales
from tenants.middleware import active_tenants
from tests.conftest import PASSWORD, WEB_REDIRECT
from tests.oidc import RelyingParty
from tests.totp import current_code

DISPLAY_NAME = "Acme Hearing Aids"
COLOR = "#0f7b6c"  # a dark teal: white text on its buttons
COLOR_RGB = "rgb(15, 123, 108)"
LOGO_SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48" viewBox="0 0 48 48">'
            b'<rect width="48" height="48" rx="10" fill="#0f7b6c"/></svg>')
LOGO = "data:image/svg+xml;base64," + base64.b64encode(LOGO_SVG).decode()
PHONE = {"width": 375, "height": 667}


def in_browser(test):
    """A test driving headless Chromium against the live server (which needs committed rows)."""
    return pytest.mark.browser(pytest.mark.django_db(transaction=True)(test))


def brand(tenant, **fields) -> None:
    """Give the tenant its branding, validated as the admin would, and drop the cached row."""
    for name, value in fields.items():
        setattr(tenant, name, value)
    tenant.full_clean()
    tenant.save(update_fields=list(fields))
    active_tenants.clear()


@pytest.fixture
def branded(world_a):
    brand(world_a.tenant, display_name=DISPLAY_NAME, logo=LOGO, primary_color=COLOR)
    return world_a


def web_rp(issuer: str, world) -> RelyingParty:
    return RelyingParty(issuer, world.web.application.client_id, world.web.client_secret, WEB_REDIRECT)


def sign_in(page, username: str, password: str) -> None:
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation():
        page.click('form button[type="submit"]')


def directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}


# --- branding ---------------------------------------------------------------------------------

@in_browser
def test_sign_in_page_wears_the_tenants_name_logo_and_colour_under_the_same_csp(
        page, live_server, branded, world_b):
    plain = page.goto(f"{live_server.url}/t/{world_b.tenant.slug}/login")  # a tenant without branding
    assert page.locator("link[rel=stylesheet]").count() == 1  # site.css alone: Tessera's blue
    unbranded_policy = plain.headers["content-security-policy"]

    response = page.goto(f"{live_server.url}/t/acme/login")
    html = response.text()
    assert page.locator("p.tenant").text_content() == DISPLAY_NAME
    assert page.title() == f"Sign in · {DISPLAY_NAME}"
    logo = page.locator("img.logo")
    assert logo.get_attribute("alt") == DISPLAY_NAME
    assert logo.get_attribute("src") == LOGO
    assert logo.evaluate("img => img.complete && img.naturalWidth") == 48  # loaded, not blocked

    # The colour arrives through the tenant's stylesheet and is applied.
    sheet = page.locator('link[rel=stylesheet][href^="/t/acme/branding.css?v="]')
    assert sheet.count() == 1
    button = page.locator('form button[type="submit"]')
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == COLOR_RGB
    assert button.evaluate("b => getComputedStyle(b).color") == "rgb(255, 255, 255)"

    # ... and the policy is the very same as an unbranded tenant's, strict as ever.
    policy = response.headers["content-security-policy"]
    assert policy == unbranded_policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert directives(policy)["style-src"] == ["'self'"]
    assert directives(policy)["img-src"] == ["'self'", "data:"]
    assert page.evaluate("window.__cspViolations") == []
    assert page.log.csp_console_errors() == []
    # Nothing inline for that policy to have to allow.
    assert not re.search(r"<[^>]+\sstyle\s*=", html, re.I) and "<style" not in html.lower()
    assert page.evaluate("document.querySelectorAll('[style], style').length") == 0
    assert page.evaluate("Array.from(document.scripts).filter(s => !s.src && s.textContent.trim()).length") == 0


@in_browser
def test_a_pale_brand_colour_gets_dark_button_text(page, live_server, world_a):
    brand(world_a.tenant, primary_color="#ffd400")  # yellow: white on it would be unreadable
    page.goto(f"{live_server.url}/t/acme/login")
    button = page.locator('form button[type="submit"]')
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(255, 212, 0)"
    assert button.evaluate("b => getComputedStyle(b).color") == "rgb(0, 0, 0)"
    assert page.locator("p.tenant").text_content() == "Acme Corp"  # no display name: the name
    assert page.locator("img").count() == 0  # no logo, no empty image


# --- language ---------------------------------------------------------------------------------

def german(text) -> str:
    with translation.override("de"):
        translated = str(text)
    assert translated != str(text), f"no German for {text!r}"
    return translated


@in_browser
def test_accept_language_de_gives_the_german_sign_in_page_and_errors(page, live_server, world_a):
    page.set_extra_http_headers({"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    response = page.goto(f"{live_server.url}/t/acme/login")
    assert page.evaluate("document.documentElement.lang") == "de"
    assert response.headers["content-language"] == "de"
    assert "accept-language" in response.headers["vary"].lower()
    assert page.locator("h1").inner_text() == "Anmelden"
    assert page.title() == "Anmelden · Acme Corp"
    assert page.get_by_label("Benutzername oder E-Mail-Adresse").get_attribute("name") == "username"
    assert page.get_by_label("Passwort").get_attribute("name") == "password"
    assert page.locator('form button[type="submit"]').inner_text() == "Anmelden"

    sign_in(page, "alice", PASSWORD + "-wrong")
    assert page.locator('[role="alert"]').inner_text() == german(INVALID_CREDENTIALS)
    assert page.evaluate("document.documentElement.lang") == "de"


@in_browser
def test_ui_locales_carries_through_sign_in_to_consent_over_an_english_browser(page, live_server, issuer_a,
                                                                               world_a):
    page.set_extra_http_headers({"Accept-Language": "en-US,en;q=0.9"})
    url, _pending = web_rp(issuer_a, world_a).authorization_url(ui_locales="fr-CA de-AT en")
    page.goto(url)
    login = urlsplit(page.url)
    assert login.path == "/t/acme/login"
    assert set(parse_qs(login.query)) == {"next"}  # the login page itself was not asked for German
    assert page.evaluate("document.documentElement.lang") == "de"
    assert page.locator("h1").inner_text() == "Anmelden"

    sign_in(page, "alice", PASSWORD)
    assert urlsplit(page.url).path == "/t/acme/authorize"
    assert page.evaluate("document.documentElement.lang") == "de"
    assert page.locator("h1").inner_text() == f"{world_a.web.application.name} erlauben?"
    assert page.locator("ul.scopes li").all_inner_texts() == [
        "Sie anmelden", "Ihren Namen und Benutzernamen sehen", "Ihre E-Mail-Adresse sehen"]
    assert page.locator('button[name="allow"]').inner_text() == "Erlauben"

    # Without the remembered choice (a new browser), the same English browser reads English.
    page.context.clear_cookies()
    page.goto(f"{issuer_a}/login")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("h1").inner_text() == "Sign in"


# --- accessibility ----------------------------------------------------------------------------

UNLABELLED_INPUTS = """Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
  .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.name)"""


@in_browser
def test_sign_in_page_works_with_a_screen_reader_and_a_keyboard(page, live_server, world_a):
    page.goto(f"{live_server.url}/t/acme/login")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.evaluate(UNLABELLED_INPUTS) == []
    assert page.get_by_label("Username or email").get_attribute("autocomplete") == "username webauthn"
    assert page.get_by_label("Password").get_attribute("autocomplete") == "current-password"
    assert page.locator("h1").count() == 1
    assert page.locator("[aria-invalid], [role=alert]").count() == 0  # nothing is wrong yet

    # Keyboard: the field has the focus on arrival; from the top of the page (a click on the
    # empty corner moves where Tab starts) the first Tab lands there too, and the focused
    # control is visibly outlined.
    assert page.evaluate("document.activeElement.name") == "username"
    page.mouse.click(2, 2)
    assert page.evaluate("document.activeElement === document.body")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "username"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "submit"
    assert page.evaluate("parseFloat(getComputedStyle(document.activeElement).outlineWidth)") >= 2
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"

    sign_in(page, "alice", PASSWORD + "-wrong")
    alert = page.locator('[role="alert"]')
    assert alert.count() == 1 and alert.inner_text() == INVALID_CREDENTIALS
    message_id = alert.get_attribute("id")
    assert message_id
    for name in ("username", "password"):
        field = page.locator(f'input[name="{name}"]')
        assert field.get_attribute("aria-invalid") == "true"
        assert field.get_attribute("aria-describedby") == message_id
    # The accessible description a screen reader announces with the field is the message.
    assert page.evaluate("""() => { const f = document.querySelector('input[name=username]');
      return document.getElementById(f.getAttribute('aria-describedby')).textContent; }""") == INVALID_CREDENTIALS


@in_browser
def test_the_second_step_ties_its_error_to_the_code_field(page, live_server, issuer_a, world_a):
    with tenant_context(world_a.tenant):
        device = start_totp_enrolment(world_a.user)
        assert confirm_totp(device, current_code(pyotp.TOTP(totp_secret_text(device))))
    page.goto(f"{issuer_a}/login")
    sign_in(page, "alice", PASSWORD)
    assert urlsplit(page.url).path == "/t/acme/login/mfa"
    code = page.get_by_label("Code from your authenticator app, or a recovery code")
    assert code.get_attribute("autocomplete") == "one-time-code"
    assert page.evaluate("document.activeElement.name") == "otp_token"
    assert page.evaluate(UNLABELLED_INPUTS) == []

    code.fill("000000" if pyotp.TOTP(totp_secret_text(device)).now() != "000000" else "111111")
    with page.expect_navigation():
        page.click('form button[type="submit"]:not([name])')
    alert = page.locator('[role="alert"]')
    assert alert.inner_text() == INVALID_CODE
    field = page.locator('input[name="otp_token"]')
    assert field.get_attribute("aria-invalid") == "true"
    assert field.get_attribute("aria-describedby") == alert.get_attribute("id")
    assert field.input_value() == ""  # the refused code is not echoed back


# --- phone width ------------------------------------------------------------------------------

def fully_in_view(page, selector: str) -> bool:
    return page.locator(selector).evaluate("""e => { const r = e.getBoundingClientRect();
      return r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight; }""")


@in_browser
def test_at_phone_width_nothing_scrolls_sideways_and_the_button_is_in_view(page, live_server, issuer_a, branded):
    page.set_viewport_size(PHONE)
    page.set_extra_http_headers({"Accept-Language": "de"})  # the longer words
    page.goto(f"{issuer_a}/login")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    assert fully_in_view(page, 'form button[type="submit"]')
    sign_in(page, "alice", PASSWORD + "-wrong")  # with the error message above the form
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    assert fully_in_view(page, 'form button[type="submit"]')

    # An error page naming a long redirect URI wraps it instead of widening the page.
    client_id = branded.web.application.client_id
    long_uri = "https://rp.example.test/" + "a-very-long-path-segment/" * 12
    page.goto(f"{issuer_a}/authorize?response_type=code&scope=openid&client_id={client_id}"
              f"&redirect_uri={long_uri}")
    assert page.locator("[data-oauth-error]").count() == 1
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]


# --- without a browser ------------------------------------------------------------------------

@pytest.mark.django_db
def test_branding_stylesheet_is_css_cacheable_and_carries_the_colour(client, world_a, world_b):
    brand(world_a.tenant, primary_color=COLOR)
    css, version = stylesheet(parse_color(COLOR))

    response = client.get(f"/t/acme/branding.css?v={version}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/css; charset=utf-8"
    assert response["ETag"] == f'"{version}"'
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    body = response.content.decode()
    assert body == css
    assert f"--primary: {COLOR};" in body and "--on-primary: #ffffff;" in body
    assert "Content-Security-Policy" not in response  # a stylesheet, not a page

    # The page links exactly this version, so a new colour is a new URL.
    assert f'href="/t/acme/branding.css?v={version}"' in client.get("/t/acme/login").content.decode()
    # A stale or missing version gets the current sheet, cached briefly; a revalidation a 304.
    assert client.get("/t/acme/branding.css?v=old")["Cache-Control"] == "public, max-age=300"
    not_modified = client.get("/t/acme/branding.css", HTTP_IF_NONE_MATCH=f'"{version}"')
    assert not_modified.status_code == 304 and not_modified["ETag"] == f'"{version}"'
    assert client.post("/t/acme/branding.css").status_code == 405

    # A tenant without a colour gets Tessera's default, and its pages do not ask for it.
    default = client.get("/t/globex/branding.css")
    assert default.status_code == 200 and "--primary: #2450d6;" in default.content.decode()
    assert "branding.css" not in client.get("/t/globex/login").content.decode()


@pytest.mark.django_db
def test_a_colour_that_bypassed_validation_never_reaches_the_css(client, world_a):
    type(world_a.tenant).objects.filter(pk=world_a.tenant.pk).update(
        primary_color="red;}{}", logo="javascript:alert(1)")  # 7 characters: the column's width
    active_tenants.clear()
    css = client.get("/t/acme/branding.css").content.decode()
    assert "red" not in css and "}{" not in css and "--primary: #2450d6;" in css
    page = client.get("/t/acme/login").content.decode()
    assert "branding.css" not in page and "javascript:" not in page and "<img" not in page


def test_button_text_and_link_colours_meet_wcag_contrast():
    assert text_on(parse_color(COLOR)) == WHITE
    assert text_on(parse_color("#ffd400")) == BLACK
    assert text_on(DEFAULT_PRIMARY) == WHITE
    for value in ("#ffd400", "#a0e0ff", "#ffffff", COLOR, "#000000"):
        rgb = parse_color(value)
        assert contrast_ratio(text_on(rgb), rgb) >= 4.5, value
        assert contrast_ratio(readable_on_white(rgb), WHITE) >= 4.5, value
    assert readable_on_white(parse_color(COLOR)) == parse_color(COLOR)  # dark enough already
    assert parse_color("#12345") is None and parse_color("#1234567") is None and parse_color("") is None


def test_ui_locales_picks_the_first_language_served():
    assert from_ui_locales("fr-CA de-AT en") == "de"
    assert from_ui_locales("EN-gb de") == "en"
    assert from_ui_locales("fr ja") is None
    assert from_ui_locales("") is None
    assert from_ui_locales("x" * 200 + " de") == "de"  # a malformed tag is skipped
    assert from_ui_locales(" ".join(["fr"] * 10 + ["de"])) is None  # only the first ten count


@pytest.mark.django_db
def test_error_pages_follow_the_language_and_do_not_leak_it_to_the_next_request(client, world_a):
    german_page = client.get("/t/acme/no-such-page", HTTP_ACCEPT_LANGUAGE="de")
    assert german_page.status_code == 404
    assert '<html lang="de">' in german_page.content.decode()
    assert "Seite nicht gefunden" in german_page.content.decode()
    # The unknown-tenant page renders before the language middleware runs: it gets the
    # default, not the language the previous request on this thread left active.
    unknown = client.get("/t/nobody-here/login")
    assert unknown.status_code == 404 and '<html lang="en">' in unknown.content.decode()
    english = client.get("/t/acme/no-such-page")
    assert '<html lang="en">' in english.content.decode() and english["Content-Language"] == "en"
