"""Users in the tenant admin, and onboarding a tenant with its first admin (platform staff).

Every change goes through accounts.services (or accounts.onboarding), which record the audit
events; the admin's own forms only validate."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.models import User
from accounts.onboarding import create_tenant_with_admin
from accounts.services import (
    USER_FIELDS,
    create_user,
    deactivate_user,
    end_user_sessions,
    lock_user,
    reactivate_user,
    reset_mfa,
    unlock_user,
    update_user,
)
from tenants.admin import TenantAdmin
from tenants.admin_site import TenantModelAdmin, actor_of, is_full_admin, is_platform_staff, site
from tenants.models import Tenant


class UserAddForm(forms.ModelForm):
    """A new user: the password is optional (without one, they set theirs by the reset link)."""

    password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty: the user has no password until they set one through "
                  "\"Forgot your password?\" on the sign-in page.")

    class Meta:
        model = User
        fields = ("username", "email", "first_name", "last_name", "email_verified", "admin_role")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        others = get_user_model().objects.all()
        if data.get("username") and others.filter(username__iexact=data["username"]).exists():
            self.add_error("username", "This username is taken in this organisation.")
        if data.get("email") and others.filter(email__iexact=data["email"]).exists():
            self.add_error("email", "This email address is already used in this organisation.")
        if data.get("password"):
            candidate = User(username=data.get("username", ""), email=data.get("email", ""))
            try:
                password_validation.validate_password(data["password"], candidate)
            except ValidationError as exc:
                self.add_error("password", exc)
        return data


@admin.register(User, site=site)
class UserAdmin(TenantModelAdmin):
    """The tenant's users. Full admins add users, change their profile and role, and lock,
    unlock, deactivate, reactivate them, reset their second factors and end their sessions
    (accounts.services: each an audit event). Users are never deleted here: deactivate them."""

    allow_add = True
    allow_change = True
    allow_actions = True
    list_display = ("username", "email", "admin_role", "is_active", "locked", "email_verified", "last_login")
    list_filter = ("admin_role", "is_active", "locked", "email_verified")
    search_fields = ("username", "email", "first_name", "last_name")
    ordering = ("username",)
    readonly_fields = ("uid", "is_active", "locked", "self_registered", "last_login", "date_joined", "updated")
    fieldsets = (
        (None, {"fields": ("username", "uid", "admin_role")}),
        ("Profile", {"fields": ("first_name", "last_name", "email", "email_verified")}),
        ("State", {"fields": ("is_active", "locked", "self_registered", "last_login", "date_joined", "updated"),
                   "description": "Change these with the actions of the user list."}),
    )
    add_fieldsets = ((None, {"fields": ("username", "email", "first_name", "last_name", "email_verified",
                                        "admin_role", "password")}),)
    actions = ("lock", "unlock", "reset_second_factors", "end_sessions", "deactivate", "reactivate")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = UserAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if not change:
                new = create_user(username=data["username"], email=data.get("email", ""),
                                  password=data.get("password") or None, email_verified=data["email_verified"],
                                  first_name=data.get("first_name", ""), last_name=data.get("last_name", ""),
                                  admin_role=data.get("admin_role", ""), actor=actor_of(request))
                obj.pk, obj.uid = new.pk, new.uid
                return
            changes = {name: data[name] for name in form.changed_data if name in USER_FIELDS}
            if changes:
                update_user(User.objects.get(pk=obj.pk), actor=actor_of(request), **changes)
        except ValidationError as exc:
            self.refused(request, exc)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        return self.refusal(request) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        return self.refusal(request) or super().response_change(request, obj)

    def audit_target(self, obj: Any) -> str | None:
        return str(obj.uid)

    @admin.action(description="Lock the selected users (sessions end, tokens revoked)", permissions=["act"])
    def lock(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self.act_on_each(request, queryset.order_by("username"), lock_user, "locked", _username)

    @admin.action(description="Unlock the selected users (and clear their failed sign-ins)", permissions=["act"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self.act_on_each(request, queryset.order_by("username"), unlock_user, "unlocked", _username)

    @admin.action(description="Reset the second factors of the selected users", permissions=["act"])
    def reset_second_factors(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self.act_on_each(request, queryset.order_by("username"), reset_mfa, "second factors removed", _username)

    @admin.action(description="End every session of the selected users", permissions=["act"])
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self.act_on_each(request, queryset.order_by("username"), end_user_sessions, "sessions ended", _username)

    @admin.action(description="Deactivate the selected users", permissions=["act"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self.act_on_each(request, queryset.order_by("username"), deactivate_user, "deactivated", _username)

    @admin.action(description="Reactivate the selected users", permissions=["act"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self.act_on_each(request, queryset.order_by("username"), reactivate_user, "reactivated", _username)


def _username(user: User) -> str:
    return user.username


class TenantAddForm(forms.ModelForm):
    """A new tenant and its first full admin (accounts.onboarding)."""

    admin_username = forms.CharField(max_length=150, label="First admin's username")
    admin_email = forms.EmailField(label="First admin's email",
                                   help_text="They set their password through a one-time link shown once.")

    class Meta:
        model = Tenant
        fields = ("slug", "name")


class OnboardingTenantAdmin(TenantAdmin):
    """TenantAdmin (tenants.admin) with "add": a tenant and its first admin, whose one-time
    password-set link is shown once on the next page (never stored, never in a message)."""

    allow_add = True

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_platform_staff(request) and is_full_admin(request)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("slug", "name", "admin_username", "admin_email") if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else super().get_readonly_fields(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = TenantAddForm
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            new = create_tenant_with_admin(data["slug"], data["name"], admin_username=data["admin_username"],
                                           admin_email=data["admin_email"], actor=actor_of(request),
                                           base_url=request.build_absolute_uri("/"))
        except ValidationError as exc:
            self.refused(request, exc)
            return
        obj.pk = new.tenant.pk
        request._tessera_new_tenant = new  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        failed = self.refusal(request)
        if failed is not None:
            return failed
        new = request._tessera_new_tenant  # type: ignore[attr-defined]
        return TemplateResponse(request, "admin/tessera/shown_once.html", {
            **self.admin_site.each_context(request), "opts": self.opts,
            "title": f"Tenant {new.tenant.slug} created",
            "intro": f"Send this link to {new.admin.email}: it lets {new.admin.username} set a password "
                     f"and sign in as the first full admin of {new.tenant.slug}. It works once and "
                     f"expires at {new.password_link_expires:%Y-%m-%d %H:%M %Z}. It is not shown again.",
            "secrets": [("Password-set link", new.password_link)],
        })


site.unregister(Tenant)
site.register(Tenant, OnboardingTenantAdmin)
