"""Fixed-window counters in the cache (Redis in production) for pages that send email or
create accounts: a request past the limit gets the same page, and nothing is sent or made."""

from __future__ import annotations

import hashlib

from django.core.cache import cache

from tenants.context import require_tenant


def within_limit(kind: str, value: str, limit: int, window: int) -> bool:
    """Count one more ``kind`` event for ``value`` in this tenant; whether it is within ``limit``
    per ``window`` seconds. The value (an address, an IP) is hashed into the key."""
    digest = hashlib.sha256(f"{require_tenant().pk}:{value}".encode()).hexdigest()
    key = f"tessera:limit:{kind}:{digest}"
    cache.add(key, 0, window)
    try:
        return cache.incr(key) <= limit
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        return True
