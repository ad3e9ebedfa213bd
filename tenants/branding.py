"""The tenant's branding on its pages: display name, logo and primary colour, the CSP unchanged.

The pages allow no inline style (``style-src 'self'``), so the colour cannot go into a style
attribute or a ``<style>`` element. A tenant with a colour gets a stylesheet of its own,
``/t/<slug>/branding.css``, which sets the custom properties ``static/tessera/site.css``
uses; a tenant without one loads site.css alone, which carries Tessera's blue.

Nothing of the record reaches the sheet as text: the colour is parsed here again into three
numbers (model validators run in forms, not on every save) and the CSS is written from them.
The sheet's URL carries a hash of its content (``?v=``), so it is cached for a year and a new
colour is a new URL. The logo is a data: URI (``img-src 'self' data:``), validated again
before it is shown (``tenants.validators.validate_logo``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_safe

from tenants.models import Tenant
from tenants.validators import validate_logo

RGB = tuple[int, int, int]
DEFAULT_PRIMARY: RGB = (0x24, 0x50, 0xD6)  # site.css's --primary
WHITE: RGB = (0xFF, 0xFF, 0xFF)
BLACK: RGB = (0x00, 0x00, 0x00)
# WCAG 2.2 SC 1.4.3: normal text needs 4.5:1 against its background.
TEXT_CONTRAST = 4.5
_HEX = re.compile(r"#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})")
# Served at ?v=<its hash>: the content at that URL never changes.
IMMUTABLE = "public, max-age=31536000, immutable"
# Asked for without the current hash (an old page, a typed URL): the current sheet, briefly.
REVALIDATE = "public, max-age=300"


def parse_color(value: str) -> RGB | None:
    """``#rrggbb`` as three numbers, or None for anything else (the empty string included)."""
    match = _HEX.fullmatch(value or "")
    if match is None:
        return None
    red, green, blue = (int(part, 16) for part in match.groups())
    return red, green, blue


def hex_color(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def relative_luminance(rgb: RGB) -> float:
    """WCAG 2.x relative luminance of an sRGB colour (0 black, 1 white)."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(one: RGB, other: RGB) -> float:
    """WCAG contrast ratio, 1 (none) to 21 (black on white)."""
    lighter, darker = sorted((relative_luminance(one), relative_luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_on(background: RGB) -> RGB:
    """Black or white, whichever reads better on ``background`` (a button's label)."""
    return WHITE if contrast_ratio(background, WHITE) >= contrast_ratio(background, BLACK) else BLACK


def readable_on_white(rgb: RGB) -> RGB:
    """``rgb``, darkened just enough to be text on white (links, focus rings): a pale brand
    colour would otherwise make links unreadable."""
    shade = rgb
    for step in range(1, 21):
        if contrast_ratio(shade, WHITE) >= TEXT_CONTRAST:
            return shade
        factor = 1 - step / 20
        shade = (round(rgb[0] * factor), round(rgb[1] * factor), round(rgb[2] * factor))
    return shade


@lru_cache(maxsize=1024)
def stylesheet(rgb: RGB) -> tuple[str, str]:
    """(CSS text, its version hash) for a primary colour: the custom properties of site.css."""
    css = (
        "/* Tenant branding (tenants.branding): the custom properties of site.css. */\n"
        ":root {\n"
        f"  --primary: {hex_color(rgb)};\n"
        f"  --on-primary: {hex_color(text_on(rgb))};\n"
        f"  --primary-text: {hex_color(readable_on_white(rgb))};\n"
        "}\n"
    )
    return css, hashlib.sha256(css.encode()).hexdigest()[:16]


@lru_cache(maxsize=64)
def _usable_logo(value: str) -> bool:
    try:
        validate_logo(value)
    except ValidationError:
        return False
    return True


@dataclass(frozen=True)
class Branding:
    """What a tenant's pages show of it."""

    name: str  # the display name, else the name
    logo: str  # a validated data: URI, or ""
    stylesheet: str  # URL of the tenant's sheet, or "" (no colour: site.css's default)


def branding_of(tenant: Tenant) -> Branding:
    rgb = parse_color(tenant.primary_color)
    sheet = ""
    if rgb is not None:
        _css, version = stylesheet(rgb)
        sheet = f"{reverse('branding-css', kwargs={'tenant': tenant.slug})}?v={version}"
    return Branding(
        name=tenant.display_name or tenant.name,
        logo=tenant.logo if tenant.logo and _usable_logo(tenant.logo) else "",
        stylesheet=sheet,
    )


def branding(request: HttpRequest) -> dict[str, Branding | None]:
    """Context processor: ``branding`` of the request's tenant (None outside a tenant)."""
    tenant = getattr(request, "tenant", None)
    return {"branding": branding_of(tenant) if tenant is not None else None}


@require_safe
def branding_css(request: HttpRequest, tenant: str) -> HttpResponse:
    """The tenant's stylesheet; Tessera's default colours for a tenant without a colour."""
    rgb = parse_color(request.tenant.primary_color) or DEFAULT_PRIMARY  # type: ignore[attr-defined]
    css, version = stylesheet(rgb)
    response = HttpResponse(css, content_type="text/css; charset=utf-8")
    response["ETag"] = f'"{version}"'
    response["Cache-Control"] = IMMUTABLE if request.GET.get("v") == version else REVALIDATE
    # A matching If-None-Match gets a 304 carrying the same ETag and Cache-Control.
    conditional = get_conditional_response(request, etag=response["ETag"], response=response)
    return conditional if conditional is not None else response
