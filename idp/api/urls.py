"""/t/<tenant>/api/v1/clients/, /keys/ and /users/{uid}/tokens/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from idp.api.user_tokens import UserTokenViewSet
from idp.api.views import ClientViewSet, SigningKeyViewSet

router = SimpleRouter()
router.register("clients", ClientViewSet, basename="api-clients")
router.register("keys", SigningKeyViewSet, basename="api-keys")
urlpatterns = [
    *router.urls,
    path("users/<uuid:uid>/tokens/", UserTokenViewSet.as_view({"get": "list"}), name="api-user-tokens"),
    path("users/<uuid:uid>/tokens/revoke-all/", UserTokenViewSet.as_view({"post": "revoke_all"}),
         name="api-user-tokens-revoke-all"),
    path("users/<uuid:uid>/tokens/<uuid:family>/", UserTokenViewSet.as_view({"delete": "destroy"}),
         name="api-user-token-family"),
]
