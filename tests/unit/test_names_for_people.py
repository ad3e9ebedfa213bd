"""What the account page says about a browser and a sign-in's risk: names people recognise
(from the User-Agent header), and the recorded English reasons in the reader's language."""

from __future__ import annotations

import pytest
from django.utils import translation

from accounts.useragents import describe
from audit import risk

# Real headers, as each browser sends them.
CHROME_LINUX = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/131.0.0.0 Safari/537.36")
EDGE_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")
CHROME_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1")
FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0"
SAMSUNG_ANDROID = ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36")
WEBVIEW_IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                "Mobile/15E148")


@pytest.mark.parametrize(("header", "name"), [
    (CHROME_LINUX, "Chrome on Linux"),
    (EDGE_WINDOWS, "Edge on Windows"),  # every Chromium browser also says Chrome and Safari
    (SAFARI_IPHONE, "Safari on iOS"),
    (CHROME_IPHONE, "Chrome on iOS"),
    (FIREFOX_MAC, "Firefox on macOS"),
    (SAMSUNG_ANDROID, "Samsung Internet on Android"),  # Android also says Linux
    (WEBVIEW_IPAD, "A browser on iPadOS"),  # an app's web view: the system, not a guessed browser
    ("python-requests/2.34.2", "Unknown browser"),
    ("", "Unknown browser"),
    ("Mozilla/5.0 " + "x" * 100_000 + " Firefox/133.0", "Unknown browser"),  # only the first 512 are read
])
def test_a_browser_is_named_as_people_know_it(header, name):
    with translation.override("en"):
        assert describe(header) == name


def test_the_browser_name_speaks_german():
    with translation.override("de"):
        assert describe(CHROME_LINUX) == "Chrome unter Linux"
        assert describe("curl/8.0") == "Unbekannter Browser"


def test_every_recorded_risk_reason_reads_in_the_pages_language():
    recorded = ["3 failed sign-in(s) for this user in the last hour",
                "1 failed sign-in(s) from this IP in the last hour",
                "first sign-in from this device", "first sign-in from this IP address"]
    with translation.override("en"):
        assert [risk.describe(reason) for reason in recorded] == [
            "3 failed sign-ins for this account in the last hour",
            "1 failed sign-in from this IP address in the last hour",
            "first sign-in from this browser", "first sign-in from this IP address"]
    with translation.override("de"):
        german = [risk.describe(reason) for reason in recorded]
    assert all(text not in recorded for text in german), german
    assert german[0].startswith("3 ") and german[1].startswith("1 ")
    # A reason recorded by another version is shown as it was recorded, never dropped.
    assert risk.describe("something new") == "something new"
