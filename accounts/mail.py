"""Emails to a tenant's people, sent after the current transaction commits, from a Celery task
(accounts.tasks.send_account_email): the request never waits for SMTP, and no email goes out
for a change that rolled back."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import translation

from tenants.context import current_issuer, require_tenant


def send(user: Any, kind: str, **extra: Any) -> None:
    """Queue email ``kind`` (accounts.tasks.KINDS) to ``user``, in the language of this page."""
    from accounts.tasks import send_account_email

    tenant_id, issuer = require_tenant().pk, current_issuer()
    language = translation.get_language() or "en"
    uid = str(user.uid)
    transaction.on_commit(lambda: send_account_email.delay(tenant_id, uid, kind, issuer, language, extra))
