"""/t/<tenant>/api/v1/policy/."""

from django.urls import path

from tenants.api.policy import PolicyViewSet

urlpatterns = [
    path("policy/", PolicyViewSet.as_view({"get": "retrieve", "patch": "partial_update"}), name="api-policy"),
]
