"""Users as the admin API shows them: never a password or its hash, a TOTP seed, a recovery
code or a passkey's key material (counts of factors only)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Passkey, RecoveryCode, TOTPDevice
from core.api.filters import UTCDateTimeFilter
from tenants.models import AdminRole

User = get_user_model()


def _count(rows: QuerySet, by: str) -> Coalesce:
    """The number of ``rows`` per user, as a correlated subquery (0 when none)."""
    per_user = rows.order_by().values(by).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(per_user, output_field=IntegerField()), Value(0))


def with_factor_counts(users: QuerySet) -> QuerySet:
    """``users`` annotated with their confirmed factors: TOTP devices, passkeys, recovery codes left."""
    return users.annotate(
        totp_count=_count(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True), "user"),
        passkey_count=_count(Passkey.objects.filter(user=OuterRef("pk"), confirmed=True), "user"),
        recovery_left=_count(RecoveryCode.objects.filter(code_set__user=OuterRef("pk"), code_set__confirmed=True),
                             "code_set__user"),
    )


class FactorsSerializer(serializers.Serializer):
    """What second factors the user has enrolled (how many; never their secrets)."""

    totp = serializers.IntegerField(read_only=True, help_text="Confirmed authenticator apps.")
    passkeys = serializers.IntegerField(read_only=True)
    recovery_codes_left = serializers.IntegerField(read_only=True, help_text="Unused recovery codes.")


class UserSerializer(serializers.ModelSerializer):
    """A user of the tenant. ``uid`` is the public id (the OpenID sub) and the API's lookup."""

    email = serializers.CharField(read_only=True, help_text="An email address, or empty when the user has none.")
    has_password = serializers.SerializerMethodField(
        help_text="False for a user created without one: they set it through the password-reset flow.")
    factors = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["uid", "username", "email", "email_verified", "first_name", "last_name", "is_active", "locked",
                  "admin_role", "has_password", "date_joined", "last_login", "updated", "factors"]
        read_only_fields = fields

    def get_has_password(self, user: Any) -> bool:
        return bool(user.has_usable_password())

    @staticmethod
    def _counts(user: Any) -> tuple[int, int, int]:
        if not hasattr(user, "totp_count"):  # not from the annotated list query: count now
            user = with_factor_counts(User.objects.filter(pk=user.pk)).get()
        return user.totp_count, user.passkey_count, user.recovery_left

    @extend_schema_field(FactorsSerializer)
    def get_factors(self, user: Any) -> dict[str, int]:
        totp, passkeys, recovery = self._counts(user)
        return {"totp": totp, "passkeys": passkeys, "recovery_codes_left": recovery}


_NAME = {"max_length": 150, "required": False, "allow_blank": True}


class UserCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()],
                                     help_text="Unique within the tenant. Letters, digits and @/./+/-/_ only.")
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    password = serializers.CharField(
        write_only=True, required=False, max_length=4096, trim_whitespace=False, style={"input_type": "password"},
        help_text="Checked against the tenant's password policy; never shown again. Leave it out to have the "
                  "user choose theirs through the password-reset flow.")
    first_name = serializers.CharField(**_NAME, default="")
    last_name = serializers.CharField(**_NAME, default="")
    email_verified = serializers.BooleanField(required=False, default=False)
    admin_role = serializers.ChoiceField(choices=AdminRole.choices, required=False, default=AdminRole.NONE,
                                         allow_blank=True)


class UserUpdateSerializer(serializers.Serializer):
    """Every field optional; only those given change."""

    username = serializers.CharField(max_length=150, required=False, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(required=False, allow_blank=True)
    first_name = serializers.CharField(**_NAME)
    last_name = serializers.CharField(**_NAME)
    email_verified = serializers.BooleanField(required=False)
    admin_role = serializers.ChoiceField(choices=AdminRole.choices, required=False, allow_blank=True)


class MFAResetSerializer(serializers.Serializer):
    """How many factors of each kind were removed."""

    totp = serializers.IntegerField(read_only=True)
    passkeys = serializers.IntegerField(read_only=True)
    recovery_codes = serializers.IntegerField(read_only=True, help_text="Unused recovery codes removed.")


class SessionSerializer(serializers.Serializer):
    """A signed-in browser session, named by its sign-in's sid (never the session key)."""

    id = serializers.CharField(source="sid", read_only=True, help_text="The sign-in's sid (OpenID sid claim).")
    ip = serializers.CharField(read_only=True)
    user_agent = serializers.CharField(read_only=True)
    signed_in_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_seen = serializers.DateTimeField(read_only=True, allow_null=True)


class SessionsEndedSerializer(serializers.Serializer):
    sessions_ended = serializers.IntegerField(read_only=True)


# Filters are declared, never generated from Meta.fields (see idp.api.serializers).
class UserFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", help_text="Part of the username or email, any case.")
    username = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the username, any case.")
    email = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the email address, any case.")
    is_active = django_filters.BooleanFilter()
    locked = django_filters.BooleanFilter()
    email_verified = django_filters.BooleanFilter()
    admin_role = django_filters.ChoiceFilter(
        choices=[("none", "None"), (AdminRole.READ_ONLY.value, AdminRole.READ_ONLY.label),
                 (AdminRole.FULL.value, AdminRole.FULL.label)],
        method="role", help_text="none, read_only or full.")
    joined_after = UTCDateTimeFilter(field_name="date_joined", lookup_expr="gte")
    joined_before = UTCDateTimeFilter(field_name="date_joined", lookup_expr="lt")

    def search(self, users: QuerySet, name: str, value: str) -> QuerySet:
        return users.filter(Q(username__icontains=value) | Q(email__icontains=value))

    def role(self, users: QuerySet, name: str, value: str) -> QuerySet:
        return users.filter(admin_role=AdminRole.NONE if value == "none" else value)
