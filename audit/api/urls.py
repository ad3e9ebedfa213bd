"""/t/<tenant>/api/v1/audit/events/ (and /audit/events/export/) and /webhooks/."""

from rest_framework.routers import SimpleRouter

from audit.api.views import AuditEventViewSet
from audit.api.webhooks import WebhookViewSet

router = SimpleRouter()
router.register("audit/events", AuditEventViewSet, basename="api-audit-events")
router.register("webhooks", WebhookViewSet, basename="api-webhooks")
urlpatterns = router.urls
