"""Celery tasks of accounts: the emails sent to people (accounts.mail enqueues them).

Eager in development (CELERY_TASK_ALWAYS_EAGER), so `make run` needs no worker; a worker in
production. Each runs as its tenant (tenants.tasks.tenant_task). A link that proves something
(a password reset, an email verification) is made here, in the worker, from the user's
current state: the broker carries only the user's uid and the kind of email, never the link.
Running one twice sends a second, equally valid email and changes nothing else.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import events, tokens
from tenants.context import require_tenant
from tenants.tasks import tenant_task

KINDS = frozenset({"password_reset", "verify_email", "already_registered", "sign_in_code", "new_device"})


def _link(issuer: str, name: str, **kwargs: Any) -> str:
    path = reverse(name, kwargs={"tenant": require_tenant().slug, **kwargs})
    return issuer.rsplit("/t/", 1)[0] + path


@tenant_task(ignore_result=True)
def send_account_email(user_uid: str, kind: str, issuer: str, language: str = "en",
                       extra: dict[str, Any] | None = None) -> bool:
    """Send email ``kind`` to the user; False when the user is gone, inactive or has no email."""
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}")
    user = get_user_model().objects.filter(uid=user_uid, is_active=True).first()
    if user is None or not user.email:
        return False
    tenant = require_tenant()
    context: dict[str, Any] = {"user": user, "tenant": tenant, "organisation": tenant.display_name or tenant.name,
                               "account_url": _link(issuer, "accounts:account"), **(extra or {})}
    uid = urlsafe_base64_encode(force_bytes(user.uid.hex))
    if kind == "password_reset":
        context["link"] = _link(issuer, "accounts:password-reset-confirm", uidb64=uid,
                                token=tokens.password_reset.make_token(user))
        context["minutes"] = settings.TESSERA_PASSWORD_RESET_TIMEOUT // 60
    elif kind == "verify_email":
        context["link"] = _link(issuer, "accounts:verify-email", uidb64=uid,
                                token=tokens.email_verification.make_token(user))
        context["hours"] = settings.TESSERA_EMAIL_VERIFICATION_TIMEOUT // 3600
    with translation.override(language):
        subject = render_to_string(f"accounts/email/{kind}_subject.txt", context).strip()
        body = render_to_string(f"accounts/email/{kind}.txt", context)
    send_mail(subject, body, None, [user.email])
    events.email_sent(user, kind=kind)
    return True
