"""A person-readable name for a browser from its User-Agent: "Firefox on Windows".

The account page and the new-device email name sessions and sign-ins this way; the full
header stays in the audit trail (and in the page's ``title`` for the curious). Only the
browsers and systems people recognise are named, from the tokens their vendors document;
order matters, as every Chromium browser also says "Chrome" and "Safari", and Android
says "Linux". Anything else is "an unknown browser", never a guess.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext

# (token, name): the first token found names the browser.
_BROWSERS = (
    ("Edg/", "Edge"), ("EdgA/", "Edge"), ("EdgiOS/", "Edge"), ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"), ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"), ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Android", "Android"), ("CrOS", "ChromeOS"), ("Windows", "Windows"),
    ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"),
)
_MAX = 512  # the column keeps 256; never scan more than a header could reasonably be


def _first(user_agent: str, table: tuple[tuple[str, str], ...]) -> str | None:
    return next((name for token, name in table if token in user_agent), None)


def describe(user_agent: str) -> str:
    """"Chrome on Linux", "Safari on iOS", "Firefox", or "Unknown browser" (translated)."""
    user_agent = user_agent[:_MAX]
    browser = _first(user_agent, _BROWSERS)
    # Safari is only Safari with Apple's Version/ token (every WebKit view says Safari/).
    if browser == "Safari" and not re.search(r"Version/[0-9]", user_agent):
        browser = None
    system = _first(user_agent, _SYSTEMS)
    if browser and system:
        return gettext("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    if browser or system:
        return gettext("A browser on %(system)s") % {"system": system} if system else str(browser)
    return gettext("Unknown browser")
