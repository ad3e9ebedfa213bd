"""Who did something: the actor value recorded with every audit event.

A plain value (type, id, snapshot), so any app can name an actor without importing the app
that records it. The snapshot survives the deletion of the user or client it describes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models


class ActorType(models.TextChoices):
    USER = "user", "User"
    CLIENT = "client", "Client"
    SYSTEM = "system", "System"
    ANONYMOUS = "anonymous", "Anonymous"


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""
    snapshot: dict[str, Any] = field(default_factory=dict)


def user_actor(user: Any) -> Actor:
    """A signed-in person (any object with uid, username and email)."""
    return Actor(ActorType.USER, str(user.uid), {"uid": str(user.uid), "username": user.username,
                                                  "email": user.email})


def client_actor(application: Any) -> Actor:
    """An OAuth client acting for itself or presenting a credential."""
    return Actor(ActorType.CLIENT, application.client_id,
                 {"client_id": application.client_id, "name": application.name})


def system_actor(name: str) -> Actor:
    """Tessera itself, an operator command or a job, by name."""
    return Actor(ActorType.SYSTEM, name, {"name": name})


ANONYMOUS = Actor(ActorType.ANONYMOUS)
