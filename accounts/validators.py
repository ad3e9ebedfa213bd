"""Password validators that read the tenant's security policy."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import MinimumLengthValidator

from tenants.context import get_current_tenant


class TenantMinimumLengthValidator(MinimumLengthValidator):
    """Django's minimum length, taken from the tenant's policy (``password_min_length``); the
    configured ``min_length`` where there is no tenant (a platform command)."""

    def _minimum(self) -> int:
        from tenants.services import policy_for

        tenant = get_current_tenant()
        return policy_for(tenant).password_min_length if tenant is not None else self.min_length

    def validate(self, password: str, user: Any = None) -> None:
        MinimumLengthValidator(self._minimum()).validate(password, user)

    def get_help_text(self) -> str:
        return MinimumLengthValidator(self._minimum()).get_help_text()

    def get_error_message(self) -> str:
        return MinimumLengthValidator(self._minimum()).get_error_message()
