"""The admin API's view of a user's tokens (/api/v1/users/{uid}/tokens/): list their live
authorizations, revoke them all (or one client's, or one family). Here rather than in
accounts.api because tokens are idp's (accounts may not import idp)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from idp.models import Application, RefreshToken
from idp.services import tokens
from tenants.api.views import TenantAdminViewSet


class UserTokenSerializer(serializers.Serializer):
    """One live authorization of the user at a client: identifiers and times, never a token or
    its digest."""

    family = serializers.UUIDField(read_only=True, allow_null=True,
                                   help_text="The token family (one authorization and its refresh chain).")
    client_id = serializers.CharField(read_only=True)
    client_name = serializers.CharField(read_only=True)
    scope = serializers.CharField(read_only=True)
    created = serializers.DateTimeField(read_only=True, help_text="When its current token was issued.")
    expires = serializers.DateTimeField(read_only=True, allow_null=True,
                                        help_text="When it ends (null: a refresh token that lasts until revoked).")
    refresh = serializers.BooleanField(read_only=True, help_text="A refresh-token family (else an access token).")


class RevokeTokensSerializer(serializers.Serializer):
    client_id = serializers.CharField(required=False, max_length=100,
                                      help_text="Only the tokens of this client (default: every client).")


class RevokedTokensSerializer(serializers.Serializer):
    families = serializers.IntegerField(read_only=True, help_text="Refresh-token families revoked.")
    access_tokens = serializers.IntegerField(read_only=True, help_text="Access tokens revoked.")


class UserTokenViewSet(TenantAdminViewSet):
    """A user's live tokens, as families per client."""

    model = RefreshToken
    serializer_class = UserTokenSerializer
    pagination_class = None  # type: ignore[assignment]  # a handful per user

    def _user(self) -> User:
        user = User.objects.filter(uid=self.kwargs["uid"]).first()
        if user is None:
            raise Http404("No such user.")
        return user

    @extend_schema(summary="List a user's live tokens (per client and family)",
                   responses={200: UserTokenSerializer(many=True)})
    def list(self, request: Request, **kwargs: Any) -> Response:
        return Response(UserTokenSerializer(tokens.live_tokens_of(self._user()), many=True).data)

    @extend_schema(summary="Revoke every token of a user (or those of one client)", request=RevokeTokensSerializer,
                   responses={200: RevokedTokensSerializer})
    def revoke_all(self, request: Request, **kwargs: Any) -> Response:
        user = self._user()
        body = self.validated(RevokeTokensSerializer, request.data)
        application = None
        if body.get("client_id"):
            application = Application.objects.filter(client_id=body["client_id"]).first()
            if application is None:
                raise serializers.ValidationError({"client_id": ["No such client in this tenant."]})
        revoked = tokens.revoke_user_tokens(user, reason="revoked by an admin", actor=self.actor,
                                            application=application)
        return Response({"families": revoked.families, "access_tokens": revoked.access_tokens})

    @extend_schema(summary="Revoke one token family of a user", request=None,
                   responses={204: OpenApiResponse(description="Revoked.")})
    def destroy(self, request: Request, family: uuid.UUID, **kwargs: Any) -> Response:
        if tokens.revoke_user_token_family(self._user(), family, actor=self.actor) is None:
            raise Http404("No such token family.")
        return Response(status=status.HTTP_204_NO_CONTENT)
