"""Django admin, one tenant at a time: ``/t/<slug>/admin/`` for that tenant's admins.

One ``AdminSite`` serves every tenant. The tenant is the request's (TenantMiddleware, from the
URL), so every ModelAdmin's queryset is the tenant-scoped default manager's, with row-level
security beneath it on PostgreSQL. The platform admin is the platform tenant's own admin
(``/t/platform/admin/``; ``/admin/`` redirects there), where the Tenants model is shown too.

Reversing: Django admin reverses its URLs without arguments (``admin:index``), so it cannot
sit under the ``t/<slug:tenant>/`` include. For a request under ``/t/<slug>/admin/``,
TenantMiddleware sets ``request.urlconf`` to :func:`admin_urlconf` (slug): the admin mounted
at that tenant's literal prefix, then the project's own URLconf, so both ``admin:index`` and
``accounts:login`` (with its ``tenant`` argument) reverse as usual.

Sign-in is the tenant's own login page (its password, lockout and MFA policy, "required for
tenant admins" included); sign-out is the tenant's logout. Permissions come from the user's
admin role (``User.admin_role``), never from Django's permission tables, which are not
tenant-scoped; nothing is written to Django's LogEntry table (not tenant-scoped either): the
services every change goes through record typed audit events.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, URLResolver, include, path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from core.actors import Actor, user_actor
from core.conf import tessera_settings
from tenants.models import AdminRole, Tenant


def admin_role(request: HttpRequest) -> str:
    """The signed-in user's admin role in the request's tenant ("" for none, or another tenant's user)."""
    user = getattr(request, "user", None)
    tenant: Tenant | None = getattr(request, "tenant", None)
    if (tenant is None or user is None or not user.is_authenticated or not user.is_active
            or getattr(user, "tenant_id", None) != tenant.pk or getattr(user, "locked", False)):
        return AdminRole.NONE
    role = getattr(user, "admin_role", "")
    return role if role in (AdminRole.READ_ONLY, AdminRole.FULL) else AdminRole.NONE


def is_full_admin(request: HttpRequest) -> bool:
    return admin_role(request) == AdminRole.FULL


def is_platform_staff(request: HttpRequest) -> bool:
    """An admin of the platform tenant, in the platform tenant's admin."""
    tenant: Tenant | None = getattr(request, "tenant", None)
    return tenant is not None and tenant.is_platform and admin_role(request) != AdminRole.NONE


def actor_of(request: HttpRequest) -> Actor:
    """The audit actor of an admin change: the signed-in person."""
    return user_actor(request.user)


class TenantAdminSite(admin.AdminSite):
    """The admin site of the request's tenant (see the module docstring)."""

    site_title = "Tessera admin"
    site_header = "Tessera admin"
    index_title = "Administration"
    # The changelist of an unknown model answers 404 instead of Django's catch-all redirect.
    final_catch_all_view = True

    def has_permission(self, request: HttpRequest) -> bool:
        return admin_role(request) != AdminRole.NONE

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        tenant: Tenant | None = getattr(request, "tenant", None)
        if tenant is not None:
            name = tenant.display_name or tenant.name
            context["site_header"] = f"{name} admin"
            context["site_title"] = context["site_header"]
            context["site_url"] = reverse("accounts:home", kwargs={"tenant": tenant.slug})
        context["admin_role"] = admin_role(request)
        return context

    def get_log_entries(self, request: HttpRequest) -> QuerySet[Any]:
        """No "recent actions": LogEntry is not written (nor tenant-scoped); see the audit events."""
        from django.contrib.admin.models import LogEntry

        return LogEntry.objects.none()

    def get_urls(self) -> list[URLPattern | URLResolver]:
        # "view on site" (contenttypes' shortcut) loads any object by its pk through the
        # model's base manager, which is unscoped: not offered here.
        return [p for p in super().get_urls() if getattr(p, "name", None) != "view_on_site"]

    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The tenant's own login page, coming back to the admin page asked for.

        A signed-in person without an admin role here is refused (the 403 page) rather than sent
        to sign in again, which would bring them straight back."""
        tenant: Tenant = request.tenant  # type: ignore[attr-defined]
        admin_root = reverse("admin:index", current_app=self.name)
        next_url = request.GET.get("next", "")
        if not (next_url.startswith(admin_root) and url_has_allowed_host_and_scheme(
                next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure())):
            next_url = admin_root
        if self.has_permission(request):
            return HttpResponseRedirect(next_url)
        if request.user.is_authenticated:
            raise PermissionDenied
        login = reverse("accounts:login", kwargs={"tenant": tenant.slug})
        return HttpResponseRedirect(f"{login}?{urlencode({'next': next_url})}")

    def logout(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:  # type: ignore[override]
        """The tenant's logout (it ends the session and revokes its tokens; asks to confirm)."""
        return HttpResponseRedirect(reverse("idp:logout", kwargs={"tenant": request.tenant.slug}))  # type: ignore[attr-defined]

    def password_change(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:  # type: ignore[override]
        """The account page's password change (the tenant's password policy, sessions ended)."""
        return HttpResponseRedirect(reverse("accounts:password", kwargs={"tenant": request.tenant.slug}))  # type: ignore[attr-defined]

    def password_change_done(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:  # type: ignore[override]
        return self.password_change(request)


site = TenantAdminSite(name="tenant-admin")

# Where save_model leaves a service's refusal for the response that follows.
_REFUSED = "_tessera_admin_refused"


class TenantModelAdmin(admin.ModelAdmin):
    """Base of every ModelAdmin on the tenant admin site: permissions by admin role.

    read_only admins view; full admins may also do what the model allows (``allow_add``,
    ``allow_change``, ``allow_delete``, and ``allow_actions`` for the actions that call
    services). Nothing goes to Django's LogEntry: the services record audit events.
    """

    allow_add = False
    allow_change = False
    allow_delete = False
    allow_actions = False
    show_full_result_count = False  # no second COUNT(*) on big tables (audit events)
    view_on_site = False  # contenttypes' shortcut is not routed (TenantAdminSite.get_urls)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return admin_role(request) != AdminRole.NONE

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return admin_role(request) != AdminRole.NONE

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self.allow_add and is_full_admin(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.allow_change and is_full_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.allow_delete and is_full_admin(request)

    def has_act_permission(self, request: HttpRequest) -> bool:
        """Actions declared with ``permissions=["act"]`` (they call audited services)."""
        return self.allow_actions and is_full_admin(request)

    # Lookups a changelist URL may carry besides the list filters' (``?target_id=`` links).
    extra_lookups: tuple[str, ...] = ()

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """Only the changelist's own filters. Django allows any lookup on the model's own
        fields, so ``?password__regex=^argon2...`` would let any admin read every password
        hash (or a client-secret digest, an audit MAC) a character at a time."""
        field, _, rest = lookup.partition("__")
        if lookup in self.extra_lookups:
            return True
        filtered = {f if isinstance(f, str) else f[0] for f in self.get_list_filter(request)}  # type: ignore[arg-type,index]
        if field in filtered:
            return rest in ("", "exact", "isnull")
        if field == self.date_hierarchy:
            return rest in ("year", "month", "day", "gte", "lt")
        return False

    # --- saves and actions through the services ---------------------------------------------

    def refused(self, request: HttpRequest, error: ValidationError) -> None:
        """In save_model: the service refused the change; ``refusal`` shows why afterwards."""
        setattr(request, _REFUSED, " ".join(error.messages))

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        """After save_model: the service's refusal as an error message, back on the form's page
        (instead of Django's "changed successfully"); None when nothing was refused."""
        error = getattr(request, _REFUSED, None)
        if error is None:
            return None
        self.message_user(request, error, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def act_on_each(self, request: HttpRequest, queryset: QuerySet[Any], service: Any, done: str,
                    name: Any = str) -> None:
        """An admin action: ``service(obj, actor=...)`` for each selected object, each one's
        outcome (done, or the service's refusal) as a message naming it."""
        for obj in queryset:
            try:
                service(obj, actor=actor_of(request))
            except ValidationError as exc:
                self.message_user(request, f"{name(obj)}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{name(obj)}: {done}.", messages.SUCCESS)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        """404 for an object not in this tenant (Django would redirect to the index)."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such object in this organisation.")
        return obj

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
                     ) -> HttpResponse:
        """The object's history is its audit events (LogEntry is not written)."""
        obj = self.get_object(request, object_id)
        target = self.audit_target(obj)
        if target is None:
            raise Http404
        url = reverse("admin:audit_auditevent_changelist", current_app=self.admin_site.name)
        return HttpResponseRedirect(f"{url}?{urlencode({'target_id': target})}")

    def audit_target(self, obj: Any) -> str | None:
        """The ``target_id`` the audit events about ``obj`` carry (None: not linked)."""
        return None

    # Django's LogEntry is not tenant-scoped and the services record typed audit events: no
    # second, untyped "admin.action" event per change. (Django ignores what these return; the
    # stubs' LogEntry return type is what the overrides decline to make.)
    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> None:  # type: ignore[override]
        return None

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> None:  # type: ignore[override]
        return None

    def log_deletion(self, request: HttpRequest, obj: Any, object_repr: str) -> None:  # type: ignore[override]
        return None

    def log_deletions(self, request: HttpRequest, queryset: Any) -> None:  # type: ignore[override]
        return None

    def require_act(self, request: HttpRequest) -> None:
        if not self.has_act_permission(request):
            raise PermissionDenied


@lru_cache(maxsize=1024)
def admin_urlconf(slug: str, root_urlconf: str) -> TenantAdminURLconf:
    """The URLconf of a request under /t/<slug>/admin/ (see TenantAdminURLconf)."""
    return TenantAdminURLconf(slug, root_urlconf)


class TenantAdminURLconf:
    """A URLconf module stand-in: the admin at ``t/<slug>/admin/``, then the project's URLs.

    Equal (and hashed) by slug and root URLconf: Django caches one resolver per URLconf
    (``django.urls.resolvers._get_cached_resolver``), so one made again after it left the
    LRU above finds the same resolver, and Django holds at most one per tenant."""

    __slots__ = ("_patterns", "root", "slug")

    def __init__(self, slug: str, root: str) -> None:
        self.slug, self.root = slug, root
        self._patterns: list[URLPattern | URLResolver] | None = None

    @property
    def urlpatterns(self) -> list[URLPattern | URLResolver]:
        if self._patterns is None:
            self._patterns = [path(f"t/{self.slug}/admin/", site.urls), path("", include(self.root))]
        return self._patterns

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TenantAdminURLconf) and (other.slug, other.root) == (self.slug, self.root)

    def __hash__(self) -> int:
        return hash((TenantAdminURLconf, self.slug, self.root))

    def __repr__(self) -> str:
        return f"<tenant admin URLconf of {self.slug}>"


def urlconf_for(slug: str) -> TenantAdminURLconf:
    return admin_urlconf(slug, settings.ROOT_URLCONF)


def platform_admin_redirect(request: HttpRequest, rest: str = "") -> HttpResponse:
    """/admin/... -> the platform tenant's admin (platform staff sign in at their tenant)."""
    target = f"/t/{tessera_settings.PLATFORM_TENANT}/admin/{rest}"
    query = request.META.get("QUERY_STRING", "")
    return HttpResponseRedirect(f"{target}?{query}" if query else target)
