"""Deployment checks that stand in for Django's where production silences them."""

from __future__ import annotations

from django.test import override_settings

from core.security import check_csrf_middleware


def test_the_tenant_csrf_middleware_counts_as_csrf_protection(settings):
    assert "settings.middleware.PageCsrfViewMiddleware" in settings.MIDDLEWARE
    assert check_csrf_middleware() == []


def test_no_csrf_middleware_at_all_is_an_error(settings):
    without = [path for path in settings.MIDDLEWARE if "csrf" not in path.lower()]
    with override_settings(MIDDLEWARE=without):
        assert [message.id for message in check_csrf_middleware()] == ["tessera.E010"]


def test_django_s_own_csrf_middleware_counts_too(settings):
    swapped = [("django.middleware.csrf.CsrfViewMiddleware" if "csrf" in path.lower() else path)
               for path in settings.MIDDLEWARE]
    with override_settings(MIDDLEWARE=swapped):
        assert check_csrf_middleware() == []
