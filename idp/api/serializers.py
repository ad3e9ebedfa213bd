"""Clients and signing keys as the admin API shows them: never a secret or a private key."""

from __future__ import annotations

from typing import Any

import django_filters
from rest_framework import serializers

from idp.models import (
    ADMIN_SCOPES,
    AccessTokenFormat,
    Application,
    ApplicationType,
    GrantType,
    SigningAlgorithm,
    SigningKey,
)


def _uris(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=2000), max_length=50, **kwargs)


class ClientSerializer(serializers.ModelSerializer):
    """A client (relying party). Its secret is shown only by create and rotate-secret."""

    confidential = serializers.SerializerMethodField()
    grant_types = serializers.ListField(child=serializers.ChoiceField(choices=GrantType.choices))
    redirect_uris = serializers.SerializerMethodField()
    post_logout_redirect_uris = serializers.SerializerMethodField()
    web_origins = serializers.SerializerMethodField()
    first_party = serializers.BooleanField(source="skip_authorization")
    admin_scopes = serializers.ListField(child=serializers.ChoiceField(choices=sorted(ADMIN_SCOPES)))

    class Meta:
        model = Application
        fields = ["client_id", "name", "confidential", "grant_types", "redirect_uris", "post_logout_redirect_uris",
                  "web_origins", "first_party", "algorithm", "access_token_format", "application_type",
                  "admin_scopes", "created", "updated"]
        read_only_fields = fields

    def get_confidential(self, application: Application) -> bool:
        return bool(application.client_type == Application.CLIENT_CONFIDENTIAL)

    def get_redirect_uris(self, application: Application) -> list[str]:
        return application.redirect_uris.split()

    def get_post_logout_redirect_uris(self, application: Application) -> list[str]:
        return application.post_logout_redirect_uris.split()

    def get_web_origins(self, application: Application) -> list[str]:
        return application.allowed_origins.split()


class ClientSettingsSerializer(serializers.Serializer):
    """What may be chosen about a client (idp.services.clients.ClientSettings)."""

    name = serializers.CharField(max_length=255)
    grant_types = serializers.ListField(child=serializers.ChoiceField(choices=GrantType.choices), min_length=1)
    redirect_uris = _uris(required=False)
    post_logout_redirect_uris = _uris(required=False)
    web_origins = _uris(required=False)
    first_party = serializers.BooleanField(required=False)
    algorithm = serializers.ChoiceField(choices=SigningAlgorithm.choices, required=False)
    access_token_format = serializers.ChoiceField(choices=AccessTokenFormat.choices, required=False)
    application_type = serializers.ChoiceField(choices=ApplicationType.choices, required=False)
    admin_scopes = serializers.ListField(child=serializers.ChoiceField(choices=sorted(ADMIN_SCOPES)),
                                         required=False, max_length=2)


class ClientCreateSerializer(ClientSettingsSerializer):
    confidential = serializers.BooleanField(help_text="Server-side client with a secret; false for SPAs and apps.")


class ClientUpdateSerializer(ClientSettingsSerializer):
    """Every field optional; a list given replaces the whole list."""

    name = serializers.CharField(max_length=255, required=False)
    grant_types = serializers.ListField(child=serializers.ChoiceField(choices=GrantType.choices), min_length=1,
                                        required=False)


class ClientWithSecretSerializer(ClientSerializer):
    """The client with its new secret: the only time the secret is ever shown (null for public clients)."""

    client_secret = serializers.CharField(allow_null=True, read_only=True)

    class Meta(ClientSerializer.Meta):
        fields = [*ClientSerializer.Meta.fields, "client_secret"]
        read_only_fields = fields


class ClientSecretSerializer(serializers.Serializer):
    client_id = serializers.CharField(read_only=True)
    client_secret = serializers.CharField(read_only=True, help_text="Shown once; only its digest is kept.")


class SigningKeySerializer(serializers.ModelSerializer):
    """A signing key's public half and place in the rotation timeline."""

    class Meta:
        model = SigningKey
        fields = ["kid", "alg", "state", "public_jwk", "created", "activated_at", "retired_at", "removed_at",
                  "revoked_at"]
        read_only_fields = fields


class RotationSerializer(serializers.Serializer):
    changes = serializers.ListField(child=serializers.CharField(), read_only=True)
    tokens_revoked = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    keys = SigningKeySerializer(many=True, read_only=True)


# Filters are declared, never generated from Meta.fields: django-filter resolves generated ones
# through the model's default manager, which is tenant-scoped (and there is no tenant while
# the OpenAPI schema is built).
class ClientFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name, any case.")
    client_type = django_filters.ChoiceFilter(choices=Application.CLIENT_TYPES)
    access_token_format = django_filters.ChoiceFilter(choices=AccessTokenFormat.choices)


class SigningKeyFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=SigningKey.State.choices)
    alg = django_filters.ChoiceFilter(choices=SigningAlgorithm.choices)
