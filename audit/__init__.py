"""The audit trail: ``audit.record(audit.Action.X, actor=..., ...)`` from any service.

Re-exports the public surface of audit.services and audit.models lazily, so importing
``audit`` from a models module does not load models before the app registry is ready.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "record": "audit.services", "Actor": "audit.services", "user_actor": "audit.services",
    "client_actor": "audit.services", "system_actor": "audit.services", "ANONYMOUS": "audit.services",
    "Action": "audit.models", "Outcome": "audit.models",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'audit' has no attribute {name!r}")
