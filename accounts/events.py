"""The accounts app's audit events (sign-in and sign-out come from Django's auth signals,
received in audit.signals)."""

from __future__ import annotations

from typing import Any

from audit.models import Action
from audit.recording import record
from core.actors import Actor, system_actor


def user_created(user: Any, *, actor: Actor | None) -> None:
    record(Action.USER_CREATED, actor=actor or system_actor("tessera"), target=("user", user.uid),
           subject=user.username, details={"username": user.username, "email_verified": user.email_verified})
