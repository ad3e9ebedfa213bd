"""drf-spectacular's AutoSchema, with every operation's errors documented as problem details."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

from core.api.problems import PROBLEM_JSON


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="Dotted path of the field, or non_field_errors.")
    code = serializers.CharField()
    detail = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details (core.api.problems)."""

    type = serializers.CharField(help_text="urn:tessera:problem:<code>")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False)
    request_id = serializers.CharField(required=False)
    code = serializers.CharField(required=False)
    errors = FieldErrorSerializer(many=True, required=False, help_text="Validation problems only.")


# Every operation may answer these; each is a problem document.
ERRORS = {
    "400": "The request is malformed or has invalid fields (validation problems list them in errors).",
    "401": "No access token, or one that is expired, revoked or not of this tenant (WWW-Authenticate says which).",
    "403": "The token lacks the scope (admin:read to read, admin:write to change), or its user the admin role.",
    "404": "No such object in this tenant (another tenant's objects are never found), or an invalid cursor.",
    "429": "Too many requests from this client; Retry-After says when to try again.",
}


class AutoSchema(SpectacularAutoSchema):
    """Adds the problem responses of ``ERRORS`` to every operation."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        problem = self.resolve_serializer(ProblemSerializer(), "response").ref
        for code, description in ERRORS.items():
            responses.setdefault(code, {"description": description,
                                        "content": {PROBLEM_JSON: {"schema": problem}}})
        return responses


def only_the_admin_api(endpoints: list[tuple[str, str, str, Any]], **kwargs: Any) -> list[tuple[str, str, str, Any]]:
    """PREPROCESSING_HOOKS: the admin API alone (the passkey ceremonies are DRF views too)."""
    return [endpoint for endpoint in endpoints if "/api/v1/" in endpoint[0]]
