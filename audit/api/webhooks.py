"""The admin API's webhook subscriptions (/api/v1/webhooks/) and their deliveries."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from audit import webhooks
from audit.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from core.api.pagination import Cursor
from core.api.responses import shown_once
from tenants.api.views import TenantAdminViewSet


class SubscriptionSerializer(serializers.ModelSerializer):
    """A subscription: where audit events of which actions are sent. Its signing secret is
    shown only by create and rotate-secret."""

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "actions", "description", "is_active", "created", "updated"]
        read_only_fields = ["id", "created", "updated"]


class SubscriptionCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, help_text="https:// only, on a public address.")
    actions = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1, max_length=100,
                                    help_text='Action names (token.issued), prefixes (token.*) or "*".')
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    is_active = serializers.BooleanField(required=False, default=True)


class SubscriptionUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False)
    actions = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1, max_length=100,
                                    required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class SubscriptionWithSecretSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="HMAC-SHA256 key of Tessera-Signature; shown once.")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class SecretSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    secret = serializers.CharField(read_only=True, help_text="Shown once; later deliveries are signed with it.")


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "seq", "action", "payload", "status", "attempts", "next_attempt_at", "last_status_code",
                  "last_error", "created", "delivered_at"]
        read_only_fields = fields


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)


class NewestFirst(Cursor):
    ordering = "-created"


@extend_schema_view(
    list=extend_schema(summary="List webhook subscriptions"),
    retrieve=extend_schema(summary="Read a webhook subscription"),
)
class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantAdminViewSet):
    """Audit events pushed to HTTPS endpoints, signed (Tessera-Signature: t=..., v1=HMAC-SHA256 of
    "t.body") and retried with backoff; each delivery is recorded."""

    model = WebhookSubscription
    serializer_class = SubscriptionSerializer
    filterset_class = None
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> Any:
        return super().get_queryset().order_by("-pk")

    @extend_schema(summary="Subscribe an endpoint to audit events", request=SubscriptionCreateSerializer,
                   responses={201: SubscriptionWithSecretSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = self.validated(SubscriptionCreateSerializer, request.data)
        subscription, secret = webhooks.create_subscription(
            data["url"], data["actions"], data["description"], actor=self.actor, is_active=data["is_active"])
        body = SubscriptionSerializer(subscription).data | {"secret": secret}
        return shown_once(body, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a webhook subscription", request=SubscriptionUpdateSerializer,
                   responses={200: SubscriptionSerializer})
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        subscription = self.get_object()
        data = self.validated(SubscriptionUpdateSerializer, request.data, partial=True)
        subscription = webhooks.update_subscription(subscription, actor=self.actor, **data)
        return Response(SubscriptionSerializer(subscription).data)

    @extend_schema(summary="Delete a webhook subscription and its deliveries", request=None,
                   responses={204: OpenApiResponse(description="Deleted.")})
    def destroy(self, request: Request, **kwargs: Any) -> Response:
        webhooks.delete_subscription(self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Issue a new signing secret (shown once)", request=None,
                   responses={200: SecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, **kwargs: Any) -> Response:
        subscription = self.get_object()
        secret = webhooks.rotate_subscription_secret(subscription, actor=self.actor)
        return shown_once({"id": subscription.pk, "secret": secret})

    @extend_schema(summary="List a subscription's deliveries, newest first",
                   parameters=[OpenApiParameter("status", enum=DeliveryStatus.values)],
                   responses={200: DeliverySerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=NewestFirst, serializer_class=DeliverySerializer)
    def deliveries(self, request: Request, **kwargs: Any) -> Response:
        subscription = self.get_object()
        found = DeliveryFilter(request.query_params, queryset=webhooks.list_deliveries(subscription))
        if not found.is_valid():
            raise serializers.ValidationError(found.errors)
        page = self.paginate_queryset(found.qs)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(summary="Send a delivery again now", request=None, responses={200: DeliverySerializer})
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>[0-9a-f-]{36})/redeliver")
    def redeliver(self, request: Request, delivery_id: str, **kwargs: Any) -> Response:
        subscription = self.get_object()
        delivery = get_object_or_404(WebhookDelivery.objects.filter(subscription=subscription), pk=delivery_id)
        return Response(DeliverySerializer(webhooks.redeliver(delivery, actor=self.actor)).data)

