"""Generators for bearer values."""

import secrets


def generate_opaque_token(request=None) -> str:
    """A random 256-bit bearer value, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def generate_client_secret() -> str:
    """A random 256-bit client secret."""
    return secrets.token_urlsafe(32)
