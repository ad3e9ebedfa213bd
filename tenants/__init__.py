"""Tenants: the tenant model, the per-request tenant context and tenant-scoped managers."""
