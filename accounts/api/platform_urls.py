"""/api/v1/tenants/ (platform staff): routed from settings/urls.py."""

from rest_framework.routers import SimpleRouter

from accounts.api.platform import TenantViewSet

router = SimpleRouter()
router.register("", TenantViewSet, basename="api-tenants")
urlpatterns = router.urls
