"""Responses of the admin API that carry a secret shown once."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response


def shown_once(body: Any, status: int = 200) -> Response:
    """A response holding a secret (client or webhook secret, a password-set link): never kept
    by a cache on the way (RFC 9111 §5.2.2.5; as RFC 6749 §5.1 asks of token responses)."""
    return Response(body, status=status, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
