"""idp.redirects: what may be registered, and how a presented redirect_uri is matched."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from idp.redirects import is_loopback, redirect_uri_matches, validate_redirect_uri


@pytest.mark.parametrize("uri", [
    "https://rp.example.test/callback",
    "https://rp.example.test:8443/cb?tenant=1",
    "http://127.0.0.1/callback",
    "http://127.0.0.1:53127/callback",
    "http://[::1]/callback",
    "http://[::1]:8080/callback",
    "http://localhost:3000/callback",
    "com.example.app:/oauth2redirect/example-provider",
])
def test_registrable(uri):
    validate_redirect_uri(uri)  # no exception


@pytest.mark.parametrize("uri", [
    "http://rp.example.test/callback",  # plain http off the loopback
    "http://10.0.0.1/callback",
    "http://0.0.0.0/callback",
    "http://127.0.0.1.nip.io/callback",  # looks like loopback, is a DNS name
    "http://localhost.evil.test/callback",
    "https://*.example.test/callback",
    "https://rp.example.test/*",
    "https://rp.example.test/callback#section",
    "http://127.0.0.1/callback#x",
    "https://rp.example.test/callback#",  # an empty fragment is still a fragment
    "https:///callback",  # no host
    "javascript:alert(1)",
    "data:text/html,hi",
    "/relative/callback",
    "",
])
def test_refused(uri):
    with pytest.raises(ValidationError):
        validate_redirect_uri(uri)


def test_is_loopback():
    assert is_loopback("http://127.0.0.1/cb") and is_loopback("http://[::1]:9/cb")
    assert not is_loopback("https://127.0.0.1/cb")  # only http is a native app's loopback listener
    assert not is_loopback("http://localhost/cb")
    assert not is_loopback("http://127.0.0.1.example.test/cb")


def test_exact_match_for_https():
    registered = ["https://rp.example.test/callback", "https://rp.example.test/other"]
    assert redirect_uri_matches(registered, "https://rp.example.test/callback")
    assert redirect_uri_matches(registered, "https://rp.example.test/other")
    for presented in [
        "https://rp.example.test:8443/callback",  # no any-port outside the loopback
        "https://rp.example.test:443/callback",
        "https://rp.example.test/callback/",
        "https://rp.example.test/callback?x=1",
        "https://rp.example.test/Callback",
        "https://rp.example.test.evil.test/callback",
        "https://evil.test/callback",
        "http://rp.example.test/callback",
    ]:
        assert not redirect_uri_matches(registered, presented), presented


@pytest.mark.parametrize("registered, presented", [
    ("http://127.0.0.1/callback", "http://127.0.0.1:53127/callback"),
    ("http://127.0.0.1:8080/callback", "http://127.0.0.1:9090/callback"),
    ("http://127.0.0.1:8080/callback", "http://127.0.0.1/callback"),
    ("http://[::1]/callback", "http://[::1]:61000/callback"),
    ("http://127.0.0.1/callback?app=x", "http://127.0.0.1:5000/callback?app=x"),
])
def test_loopback_any_port_for_native_apps_only(registered, presented):
    assert redirect_uri_matches([registered], presented, any_loopback_port=True)
    # RFC 8252 §7.3 is for native apps; any other client's loopback URI matches exactly.
    assert not redirect_uri_matches([registered], presented)


@pytest.mark.parametrize("registered, presented", [
    ("http://localhost/callback", "http://localhost:3000/callback"),  # no any-port for a DNS name
    ("http://localhost:3000/callback", "http://localhost:3001/callback"),
    ("http://127.0.0.1/callback", "http://[::1]:5000/callback"),  # a different loopback address
    ("http://[::1]/callback", "http://127.0.0.1:5000/callback"),
    ("http://127.0.0.1/callback", "http://127.0.0.1:5000/other"),
    ("http://127.0.0.1/callback", "http://127.0.0.1:5000/callback?x=1"),
    ("http://127.0.0.1/callback", "https://127.0.0.1:5000/callback"),
    ("https://rp.example.test/callback", "http://127.0.0.1:5000/callback"),
])
def test_no_any_port_match(registered, presented):
    assert not redirect_uri_matches([registered], presented, any_loopback_port=True)


def test_localhost_matches_exactly():
    assert redirect_uri_matches(["http://localhost:3000/callback"], "http://localhost:3000/callback")


@pytest.mark.parametrize("presented", [
    "http://127.0.0.1:5000/callback#fragment",  # RFC 6749 §3.1.2: no fragment
    "http://127.0.0.1/callback#",
    "http://someone@127.0.0.1:5000/callback",  # userinfo
    "http://127.0.0.1:99999/callback",  # not a port
    "http://127.0.0.1:x/callback",
])
def test_loopback_match_refuses_malformed_presented_uri(presented):
    """Registration refuses these (or they cannot be registered at all), and DOT's own
    Application.redirect_uri_allowed, which Tessera overrides, refuses fragment and userinfo.
    The any-port branch compares only scheme, host, path and query, so they slip through."""
    assert not redirect_uri_matches(["http://127.0.0.1/callback"], presented, any_loopback_port=True)
