"""Validation of what a tenant's record may carry onto its pages."""

from __future__ import annotations

import base64
import binascii
import re

from django.core.exceptions import ValidationError

from core.conf import tessera_settings

LOGO_MAX_BYTES = 64 * 1024
_LOGO_TYPES = ("image/png", "image/jpeg", "image/webp", "image/svg+xml")
_DATA_URI = re.compile(r"^data:(?P<type>[a-z+/]+);base64,(?P<data>[A-Za-z0-9+/=]+)$")
_SVG_ACTIVE = re.compile(rb"<script|\bon[a-z]+\s*=|javascript:|<foreignobject|xlink:href\s*=\s*[\"'](?!#)", re.I)


def validate_logo(value: str) -> None:
    """A logo is a base64 data: URI of an image (PNG, JPEG, WebP, SVG), at most 64 KiB.

    It is shown with <img src>, which the CSP allows for data: and where an SVG runs no
    script; an SVG carrying script or event handlers is refused all the same, so the record
    never holds active content.
    """
    if not value:
        return
    match = _DATA_URI.match(value)
    if match is None or match["type"] not in _LOGO_TYPES:
        raise ValidationError("The logo must be a base64 data: URI of a PNG, JPEG, WebP or SVG image.")
    try:
        raw = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError("The logo's base64 data is not valid.") from exc
    if len(raw) > LOGO_MAX_BYTES:
        raise ValidationError(f"The logo is larger than {LOGO_MAX_BYTES // 1024} KiB.")
    if match["type"] == "image/svg+xml" and _SVG_ACTIVE.search(raw):
        raise ValidationError("An SVG logo may not contain scripts, event handlers or external links.")


# The JWS algorithms Tessera signs with (idp.models.SigningAlgorithm holds their labels).
SIGNING_ALGORITHMS = ("RS256", "ES256")


def default_signing_algorithms() -> list[str]:
    """A new tenant's: every algorithm of TESSERA["SIGNING_ALGORITHMS"] (RS256 first)."""
    return list(tessera_settings.SIGNING_ALGORITHMS)


def validate_signing_algorithms(value: object) -> None:
    """A non-empty list of distinct supported algorithms."""
    if (not isinstance(value, list) or not value or len(set(value)) != len(value)
            or any(alg not in SIGNING_ALGORITHMS for alg in value)):
        raise ValidationError(
            f"Choose one or more signing algorithms among {', '.join(SIGNING_ALGORITHMS)}, each once.")


def validate_audit_retention(value: int) -> None:
    """0 (kept for ever) or at least 30 days: the purge never touches the last 30 days."""
    if value and value < 30:
        raise ValidationError("Audit events are kept at least 30 days (0 keeps them for ever).")
