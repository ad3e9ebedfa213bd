"""/t/<tenant>/api/v1/clients/ and /keys/."""

from rest_framework.routers import SimpleRouter

from idp.api.views import ClientViewSet, SigningKeyViewSet

router = SimpleRouter()
router.register("clients", ClientViewSet, basename="api-clients")
router.register("keys", SigningKeyViewSet, basename="api-keys")
urlpatterns = router.urls
