"""Tenant-scoped managers: the application layer of tenant isolation."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.contrib.auth.models import UserManager
from django.db import models

from tenants.context import require_tenant

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

_M = TypeVar("_M", bound=models.Model)
_U = TypeVar("_U", bound="AbstractBaseUser")


class TenantScopedQuerySetMixin:
    """Filters every queryset by the tenant in context; raises TenantNotSet without one."""

    def get_queryset(self):
        return super().get_queryset().filter(tenant=require_tenant())  # type: ignore[misc]

    def none(self):
        """The empty queryset, with or without a tenant (it reads no row): what schema tools
        such as drf-spectacular ask a model's default manager for."""
        return super().get_queryset().none()  # type: ignore[misc]


class TenantScopedManager(TenantScopedQuerySetMixin, models.Manager[_M]):
    """Default manager of tenant-owned models."""


class TenantScopedUserManager(TenantScopedQuerySetMixin, UserManager[_U]):
    """Default manager of the user model: UserManager's helpers, scoped to the tenant."""
