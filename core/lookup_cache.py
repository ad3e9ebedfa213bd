"""A small per-process cache for hot, rarely changing rows (tenants by slug, clients by id).

Every grant looks up its tenant and client; caching them saves two queries per request.
Invalidation: a save or delete in this process evicts the entry at once (model signals);
other processes see the change within ``TESSERA["LOOKUP_CACHE_SECONDS"]`` (default 5 s),
which bounds how long a deactivated tenant, deleted client or rotated secret is honoured.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from core.conf import tessera_settings


class LookupCache:
    """A thread-safe, size-bounded TTL cache of positive lookups (misses are never cached)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        ttl = tessera_settings.LOOKUP_CACHE_SECONDS
        if ttl <= 0:
            return load()
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = load()
        if value is not None:
            with self._lock:
                self._entries[key] = (now + ttl, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return value

    def evict(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
