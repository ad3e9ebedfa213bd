"""/t/<tenant>/api/v1/audit/events/ (and /audit/events/export)."""

from rest_framework.routers import SimpleRouter

from audit.api.views import AuditEventViewSet

router = SimpleRouter()
router.register("audit/events", AuditEventViewSet, basename="api-audit-events")
urlpatterns = router.urls
