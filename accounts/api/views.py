"""The admin API's users (/api/v1/users/): create, list, read, change, deactivate, lock, reset
MFA, and their sessions. Thin: every change is a service of accounts.services (the Django admin
calls the same ones). Their tokens: idp.api.user_tokens."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services
from accounts.api import serializers as s
from accounts.models import User
from accounts.sessions import sessions_of
from tenants.api.views import TenantAdminViewSet

UUID_RE = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
SID_RE = "[A-Za-z0-9_-]{16,64}"  # a sign-in's sid (accounts.authn: token_urlsafe(16))

_USER = {200: s.UserSerializer}


def _state_change(summary: str) -> Any:
    return extend_schema(summary=summary, request=None, responses=_USER)


@extend_schema_view(
    list=extend_schema(summary="List the tenant's users"),
    retrieve=extend_schema(summary="Read a user"),
)
class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantAdminViewSet):
    """The people of the tenant, looked up by ``uid`` (their OpenID sub), never by row id."""

    model = User
    serializer_class = s.UserSerializer
    lookup_field = "uid"
    lookup_value_regex = UUID_RE
    filterset_class = s.UserFilter

    def get_queryset(self) -> Any:
        users = super().get_queryset()
        return users if getattr(self, "swagger_fake_view", False) else s.with_factor_counts(users)

    @extend_schema(summary="Create a user (without a password, they set theirs through the password-reset flow)",
                   request=s.UserCreateSerializer, responses={201: s.UserSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = self.validated(s.UserCreateSerializer, request.data)
        user = services.create_user(actor=self.actor, password=data.pop("password", None), **data)
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a user (profile, email, its verification, admin role)",
                   request=s.UserUpdateSerializer, responses=_USER)
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        user = self.get_object()
        changes = self.validated(s.UserUpdateSerializer, request.data, partial=True)
        services.update_user(user, actor=self.actor, **changes)
        return Response(s.UserSerializer(user).data)

    @_state_change("Deactivate a user: no sign-in; their sessions end and their tokens are revoked")
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, **kwargs: Any) -> Response:
        return self._user(services.deactivate_user(self.get_object(), actor=self.actor))

    @_state_change("Reactivate a deactivated user")
    @action(detail=True, methods=["post"])
    def reactivate(self, request: Request, **kwargs: Any) -> Response:
        return self._user(services.reactivate_user(self.get_object(), actor=self.actor))

    @_state_change("Lock a user: sign-in refused until unlocked; their sessions end and their tokens are revoked")
    @action(detail=True, methods=["post"])
    def lock(self, request: Request, **kwargs: Any) -> Response:
        return self._user(services.lock_user(self.get_object(), actor=self.actor))

    @_state_change("Unlock a user, and clear the failed-sign-in counters of their username")
    @action(detail=True, methods=["post"])
    def unlock(self, request: Request, **kwargs: Any) -> Response:
        return self._user(services.unlock_user(self.get_object(), actor=self.actor))

    @extend_schema(summary="Remove every second factor of a user (they enrol again if the policy requires one)",
                   request=None, responses={200: s.MFAResetSerializer})
    @action(detail=True, methods=["post"], url_path="reset-mfa")
    def reset_mfa(self, request: Request, **kwargs: Any) -> Response:
        return Response(services.reset_mfa(self.get_object(), actor=self.actor))

    @extend_schema(summary="List a user's signed-in sessions", responses={200: s.SessionSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def sessions(self, request: Request, **kwargs: Any) -> Response:
        return Response(s.SessionSerializer(sessions_of(self.get_object()), many=True).data)

    @extend_schema(summary="End every session of a user (and the tokens issued through them)", request=None,
                   responses={200: s.SessionsEndedSerializer})
    @action(detail=True, methods=["post"], url_path="sessions/revoke-all")
    def revoke_sessions(self, request: Request, **kwargs: Any) -> Response:
        ended = services.end_user_sessions(self.get_object(), actor=self.actor)
        return Response({"sessions_ended": len(ended)})

    @extend_schema(summary="End one session of a user (and the tokens issued through it)", request=None,
                   parameters=[OpenApiParameter("sid", OpenApiTypes.STR, OpenApiParameter.PATH,
                                                pattern=f"^{SID_RE}$", description="The session's id.")],
                   responses={204: OpenApiResponse(description="Ended.")})
    @action(detail=True, methods=["delete"], url_path=f"sessions/(?P<sid>{SID_RE})")
    def end_session(self, request: Request, sid: str, **kwargs: Any) -> Response:
        if not services.end_user_sessions(self.get_object(), actor=self.actor, sid=sid):
            raise Http404("No such session.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _user(self, user: User) -> Response:
        return Response(s.UserSerializer(user).data)
