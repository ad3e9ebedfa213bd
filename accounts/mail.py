"""Emails to a tenant's people, sent after the current transaction commits, from a Celery task
(accounts.tasks.send_account_email): the request never waits for SMTP, and no email goes out
for a change that rolled back."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import translation

from tenants.context import current_issuer, require_tenant

log = logging.getLogger("tessera.mail")


def send(user: Any, kind: str, **extra: Any) -> None:
    """Queue email ``kind`` (accounts.tasks.KINDS) to ``user``, in the language of this page."""
    tenant_id, issuer = require_tenant().pk, current_issuer()
    language = translation.get_language() or "en"
    uid = str(user.uid)
    transaction.on_commit(lambda: _enqueue(tenant_id, uid, kind, issuer, language, extra))


def _enqueue(tenant_id: int, uid: str, kind: str, issuer: str, language: str, extra: dict[str, Any]) -> None:
    """Hand the email to the broker; with the broker down, log it as not sent and go on.

    Issue 15: the enqueue fails fast (settings.base, the publish timeouts) and the person sees
    the page they would have seen anyway. It is not retried later nor sent from the request:
    each of these emails answers something the person just did and repeats if nothing comes
    (a reset link, a sign-in code that expires in minutes); sending it from the request would
    make the page slower exactly when an account exists (the reset page must not tell); and a
    late reset link after the person already asked again is one more live link. The ERROR line
    says which email to which user id was lost (never the address, the code or a link)."""
    from accounts.tasks import send_account_email

    try:
        send_account_email.delay(tenant_id, uid, kind, issuer, language, extra)
    except Exception as exc:  # noqa: BLE001 - any broker failure; the commit already happened
        log.error("email %r to user %s of tenant %s not sent: the task queue is unreachable (%s)",
                  kind, uid, tenant_id, type(exc).__name__)
