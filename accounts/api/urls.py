"""/t/<tenant>/api/v1/users/ (their tokens: idp.api.urls)."""

from rest_framework.routers import SimpleRouter

from accounts.api.views import UserViewSet

router = SimpleRouter()
router.register("users", UserViewSet, basename="api-users")
urlpatterns = router.urls
