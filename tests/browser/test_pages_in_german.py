"""Every page a person can reach reads in German when the browser asks for German.

The catalogue test (tests/unit/test_translations.py) shows that every *marked* text has
German; this one finds the texts nobody marked. Each page is fetched through the live
server with ``Accept-Language: de`` along the paths people take (sign-in, a refused
sign-in, the second step, consent, the account pages, reset, registration, sign-out and the
error pages), and its visible text and its labels for assistive technology (aria-label,
title, placeholder, alt) must contain no English sentence: none of the English words
German never uses. What is not language is taken out first: the person's and the
organisation's data, the protocol's own text (marked ``lang="en"``) and ``<code>``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pyotp
import pytest

from tenants.services import update_policy
from tests.conftest import PASSWORD, WEB_REDIRECT
from tests.oidc import Browser
from tests.security.flows import authorize_url, sign_in
from tests.totp import current_code, later_code

# Not "code": German says "Code" too.
ENGLISH = re.compile(r"\b(the|your|you|and|is|are|not|this|with|sign|signed|to|of|for|from|has|have|here|"
                     r"please|cannot|account|password|enter|continue|back|cancel|allow|deny)\b", re.I)
SKIPPED = {"code", "script", "style", "template"}
ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")


class _Text(HTMLParser):
    """The text a person reads or hears: visible text and labelling attributes, minus
    ``<code>``, scripts, and anything marked ``lang="en"``."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if self._skipping or tag in SKIPPED or attributes.get("lang") == "en" or "hidden" in attributes \
                and tag == "div":
            if tag not in {"br", "img", "input", "meta", "link"}:
                self._skipping.append(tag)
            return
        self.parts += [attributes[name] or "" for name in ATTRIBUTES if name in attributes]

    def handle_endtag(self, tag):
        if self._skipping and self._skipping[-1] == tag:
            self._skipping.pop()

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(data)


def english_in(html: str, *data: str) -> list[str]:
    parser = _Text()
    parser.feed(html.split("<body", 1)[-1])
    text = " ".join(" ".join(parser.parts).split())
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    return [text[max(0, m.start() - 40):m.end() + 40] for m in ENGLISH.finditer(text)]


@pytest.fixture
def german(live_server):
    browser = Browser(live_server.url)
    browser.http.headers["Accept-Language"] = "de"
    return browser


def test_every_page_reads_in_german(german, live_server, issuer_a, world_a):
    user = world_a.user
    data = [user.username, user.email, user.get_full_name(), world_a.tenant.name, world_a.web.application.name,
            "127.0.0.1", "Tessera", "python-requests", "TOTP", "client_id", "redirect_uri", "id_token_hint",
            "post_logout_redirect_uri"]
    pages: dict[str, str] = {}

    def visit(name: str, response) -> None:
        assert response.status_code < 500, (name, response.status_code)
        assert response.headers.get("Content-Language") == "de", (name, response.url)
        pages[name] = response.text

    visit("sign-in", german.go(f"{issuer_a}/login"))
    visit("sign-in refused", german.login(german.go(f"{issuer_a}/login"), "alice", "wrong password"))
    visit("password reset", german.go(f"{issuer_a}/password/reset/"))
    visit("password reset sent", german.submit(german.last, {"email": "nobody@example.com"}))
    visit("password reset link invalid", german.go(f"{issuer_a}/password/reset/MQ/not-a-token"))
    visit("registration off", german.go(f"{issuer_a}/register"))
    update_policy(world_a.tenant, allow_self_registration=True)
    visit("registration", german.go(f"{issuer_a}/register"))
    visit("verification link invalid", german.go(f"{issuer_a}/verify-email/MQ/not-a-token"))
    visit("unknown organisation", german.go(f"{live_server.url}/t/no-such-organisation/login"))
    visit("page not found", german.go(f"{issuer_a}/no-such-page"))
    visit("authorize: unknown client", german.go(authorize_url(issuer_a, "no-such-client")[0]))
    visit("authorize: wrong redirect URI", german.go(
        authorize_url(issuer_a, world_a.web.application.client_id, "https://evil.example/cb")[0]))
    visit("authorize: no redirect URI", german.go(
        authorize_url(issuer_a, world_a.web.application.client_id, omit=("redirect_uri",))[0]))

    sign_in(german, issuer_a)
    visit("consent", german.go(authorize_url(issuer_a, world_a.web.application.client_id, WEB_REDIRECT)[0]))
    german.submit(german.last, {"allow": "1"})
    for path in ("account/", "account/profile", "account/password", "account/passkeys", "account/applications"):
        visit(path, german.go(f"{issuer_a}/{path}"))
    visit("sign-in methods page", german.go(f"{issuer_a}/account/totp"))
    secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", german.last.text).group(1)
    totp = pyotp.TOTP(secret)
    visit("recovery codes shown", german.submit(german.last, {"otp_token": current_code(totp), "next": ""}))
    visit("account with a factor", german.go(f"{issuer_a}/account/"))
    visit("sign-out", german.go(f"{issuer_a}/logout"))
    visit("sign-out request refused", german.go(f"{issuer_a}/logout?id_token_hint=not.a.token"))
    visit("signed out", german.submit(german.go(f"{issuer_a}/logout"), {"confirm": "1"}))

    visit("second step", german.login(german.go(f"{issuer_a}/login"), "alice", PASSWORD))
    visit("second step refused", german.submit(german.last, {"otp_token": "000000" if later_code(totp) != "000000"
                                                             else "111111", "next": ""}))
    update_policy(world_a.tenant, allow_totp=False)
    visit("not available here", german.go(f"{issuer_a}/account/totp"))

    english = {name: found for name, html in pages.items() if (found := english_in(html, *data))}
    assert not english, "English on German pages:\n" + "\n".join(f"{k}: {v}" for k, v in english.items())


def test_the_check_finds_english():
    assert english_in("<body><p>Please sign in</p><code>the code</code></body>")
    assert english_in('<body><button aria-label="Remove this">X</button></body>')
    assert not english_in('<body><p>Bitte melden Sie sich an.</p><p lang="en">the detail</p></body>')
