"""Authentication within the current tenant only."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import Value
from django.db.models.functions import Lower
from django.http import HttpRequest

from audit.context import memoised
from tenants.context import get_current_tenant


def find_user(identifier: str):
    """The current tenant's user whose username, else email, matches ``identifier`` (any case).

    Once per request and identifier (audit.context.memoised): a sign-in asks three times (the
    view's and axes' lockout key, then the password check)."""
    identifier = identifier.strip()
    if not identifier or "\x00" in identifier or not identifier.isprintable():
        return None  # no account is named with NUL, control characters or lone surrogates
    tenant = get_current_tenant()
    return memoised(("user", tenant.pk if tenant else None, identifier), lambda: _find_user(identifier))


def _find_user(identifier: str):
    users = get_user_model().objects
    # lower() on both sides, so the lookup uses the (tenant, lower(...)) unique indexes;
    # Django's iexact compiles to UPPER() and would scan every user of the tenant.
    wanted = Lower(Value(identifier))
    return (
        users.annotate(username_lower=Lower("username")).filter(username_lower=wanted).first()
        or (users.annotate(email_lower=Lower("email")).filter(email_lower=wanted).first()
            if "@" in identifier else None)
    )


class TenantModelBackend(ModelBackend):
    """ModelBackend that looks users up in the tenant in context, never across tenants."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None,
        password: str | None = None, **kwargs: Any,
    ):
        if username is None or password is None or get_current_tenant() is None:
            return None
        user = find_user(username)
        if user is None:
            # Run the hasher anyway so an unknown user takes as long as a wrong password
            # (Django ticket #20760).
            get_user_model()().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def user_can_authenticate(self, user: Any) -> bool:
        """Active and not locked by an admin (a lock also ends the user's sessions at once:
        ``get_user`` asks this of every session's user)."""
        return super().user_can_authenticate(user) and not getattr(user, "locked", False)

    def get_user(self, user_id: Any):
        # The default manager is tenant-scoped: a session from tenant A finds nobody at B.
        if get_current_tenant() is None:
            return None
        return super().get_user(user_id)
