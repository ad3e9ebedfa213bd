"""Consent: the scopes a user has allowed a client, remembered so the page is shown once."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from idp import events
from idp.models import Application, Consent


def record_consent(user: Any, application: Application, scopes: list[str]) -> None:
    """Remember that ``user`` allowed ``application`` these scopes (merged with earlier ones)."""
    with transaction.atomic():
        consent, created = Consent.objects.select_for_update().get_or_create(
            user=user, application=application, defaults={"scope": " ".join(sorted(set(scopes)))}
        )
        if not created and not consent.covers(scopes):
            consent.scope = " ".join(sorted(set(consent.scope.split()) | set(scopes)))
            consent.save(update_fields=["scope", "updated"])
        events.consent_granted(user, application, scopes)


def has_consent(user: Any, application: Application, scopes: list[str]) -> bool:
    consent = Consent.objects.filter(user=user, application=application).first()
    return consent is not None and consent.covers(scopes)


def consents_of(user: Any) -> list[Consent]:
    """The applications ``user`` has allowed, newest first (the account page)."""
    return list(Consent.objects.filter(user=user).select_related("application").order_by("-updated"))


def revoke_consent(user: Any, consent_id: int) -> bool:
    """Withdraw ``user``'s consent to one application, and every token that application holds
    for them: its next refresh fails, its access tokens stop at introspection and userinfo.
    False when the user has no such consent."""
    from idp.services.tokens import revoke_client_tokens

    with transaction.atomic():
        consent = Consent.objects.select_for_update().filter(user=user, pk=consent_id) \
            .select_related("application").first()
        if consent is None:
            return False
        application = consent.application
        consent.delete()
        revoked = revoke_client_tokens(user, application)
        events.consent_revoked(user, application, scopes=consent.scope.split(), families=revoked)
    return True
