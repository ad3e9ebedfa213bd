"""/api/v1/tenants/ (platform staff)."""

urlpatterns: list = []
