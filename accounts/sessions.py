"""Browser sessions that know their user (SESSION_ENGINE = "accounts.sessions").

tenants.sessions scopes the cookie to the tenant and binds the session to it; this store keeps
the sessions in ``accounts.BrowserSession``, a tenant-owned table whose rows also carry the
user, the OpenID sid, the IP and browser and the times of sign-in and last activity, copied
from the session's own data at each save. That is what the account page lists, and ending a
session is deleting its row: the next request with that cookie is anonymous, everywhere at
once, with no per-request lookup added.

``end_sessions`` is the one door that ends sessions of a user: the account page's revoke,
"sign out everywhere", a password change or reset. It sends ``accounts.signals.sessions_ended``
with the sids, so idp revokes the tokens issued through them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.db import transaction
from django.utils import timezone

from accounts.models import BrowserSession
from accounts.signals import sessions_ended
from core.actors import Actor
from tenants.context import get_current_tenant
from tenants.sessions import SessionStore as TenantSessionStore

AUTHN_SESSION_KEY = "_tessera_authn"  # accounts.authn's record of the sign-in


class SessionStore(TenantSessionStore):
    @classmethod
    def get_model_class(cls) -> type[BrowserSession]:
        return BrowserSession

    def _get_session_from_db(self) -> Any:
        # Sessions exist only under a tenant (save() refuses others): with none in context
        # there is nothing to load, and the scoped manager finds only this tenant's rows.
        if get_current_tenant() is None:
            return None
        return super()._get_session_from_db()  # type: ignore[misc]

    def create_model_instance(self, data: dict[str, Any]) -> BrowserSession:
        authn = data.get(AUTHN_SESSION_KEY) or {}
        user_id = data.get(SESSION_KEY)
        return BrowserSession(
            session_key=self._get_or_create_session_key(),  # type: ignore[attr-defined]
            session_data=self.encode(data),
            expire_date=self.get_expiry_date(),
            user_id=int(user_id) if user_id and authn else None,
            sid=str(authn.get("sid", ""))[:64],
            ip=str(authn.get("ip", ""))[:45],
            user_agent=str(authn.get("ua", ""))[:256],
            signed_in_at=_when(authn.get("at")),
            last_seen=_when(authn.get("seen")),
        )

    @classmethod
    def clear_expired(cls) -> None:
        """``manage.py clearsessions``: every tenant's expired sessions (a platform job)."""
        BrowserSession.unscoped.filter(expire_date__lt=timezone.now()).delete()


def _when(timestamp: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(float(timestamp), tz=dt.UTC)
    except (TypeError, ValueError):
        return None


def sessions_of(user: Any) -> list[BrowserSession]:
    """The user's signed-in sessions that have not expired, the most recently active first."""
    return list(BrowserSession.objects.filter(user=user, expire_date__gt=timezone.now()).exclude(sid="")
                .only("sid", "ip", "user_agent", "signed_in_at", "last_seen")
                .order_by("-last_seen", "-signed_in_at"))


def end_sessions(user: Any, *, reason: str, keep_sid: str = "", only_sid: str | None = None,
                 all_tokens: bool = False, actor: Actor | None = None) -> list[str]:
    """End the user's sessions: all of them, all but the sign-in ``keep_sid`` (the session
    making a password change), or the sign-in ``only_sid`` (the sid, never the session key,
    names a session on the account page: the key is the session's secret). Returns the sids ended;
    idp revokes the tokens issued through them, or every token the user holds with
    ``all_tokens`` (``accounts.signals.sessions_ended``). ``actor``: who ended them, when not the
    user themselves (an admin)."""
    with transaction.atomic():
        rows = BrowserSession.objects.select_for_update().filter(user=user)
        if keep_sid:
            rows = rows.exclude(sid=keep_sid)
        if only_sid is not None:
            rows = rows.filter(sid=only_sid)
        ended = list(rows.values_list("session_key", "sid"))
        BrowserSession.objects.filter(session_key__in=[key for key, _ in ended]).delete()
        sids = sorted({sid for _, sid in ended if sid})
        sessions_ended.send(sender=type(user), user=user, sids=sids, reason=reason, all_tokens=all_tokens,
                            actor=actor)
    return sids
