"""Clients and signing keys in the tenant admin, through idp's services (each an audit event).

A client secret is shown once, in the response of the change that made it (the add page's
answer, the "rotate secret" action's page); it is never stored, put in a message or a cookie.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from idp.models import (
    ADMIN_SCOPES,
    AccessTokenFormat,
    Application,
    ApplicationType,
    GrantType,
    SigningAlgorithm,
    SigningKey,
)
from idp.rotation import UnknownKey, revoke_key, rotate_current_tenant
from idp.services.clients import ClientSettings, create_client, delete_client, reissue_client_secret, update_client
from tenants.admin_site import TenantModelAdmin, actor_of, site
from tenants.services import policy_for

ADMIN_SCOPE_CHOICES = [(scope, scope) for scope in sorted(ADMIN_SCOPES)]


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.split() if line.strip()]


class ClientForm(forms.ModelForm):
    """What an operator chooses about a client (idp.services.clients.ClientSettings),
    validated as a whole by ClientSettings.validate."""

    confidential = forms.BooleanField(required=False, initial=True,
                                      help_text="Has a secret (a server-side app). Cannot be changed later.")
    grant_types = forms.MultipleChoiceField(choices=GrantType.choices, widget=forms.CheckboxSelectMultiple,
                                            initial=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN])
    redirect_uris = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                    help_text="One per line, matched exactly.")
    post_logout_redirect_uris = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                                help_text="One per line.")
    web_origins = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text="Origins allowed to call the token endpoint from a browser (CORS).")
    first_party = forms.BooleanField(required=False, help_text="Skips the consent page.")
    algorithm = forms.ChoiceField(choices=SigningAlgorithm.choices, initial=SigningAlgorithm.RS256)
    access_token_format = forms.ChoiceField(choices=AccessTokenFormat.choices, initial=AccessTokenFormat.OPAQUE)
    application_type = forms.ChoiceField(choices=ApplicationType.choices, initial=ApplicationType.WEB)
    admin_scopes = forms.MultipleChoiceField(choices=ADMIN_SCOPE_CHOICES, required=False,
                                             widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Application
        fields = ("name",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            current = ClientSettings.of(self.instance)
            for name in ("confidential", "grant_types", "first_party", "algorithm", "access_token_format",
                         "application_type", "admin_scopes"):
                self.initial[name] = getattr(current, name)
            for name in ("redirect_uris", "post_logout_redirect_uris", "web_origins"):
                self.initial[name] = "\n".join(getattr(current, name))
            self.fields["confidential"].disabled = True

    def _post_clean(self) -> None:
        # No Application.full_clean: DOT's clean() asks for its own OIDC key settings, which
        # Tessera replaces with per-tenant keys; ClientSettings.validate (in clean) is the check.
        self.instance.name = self.cleaned_data.get("name", self.instance.name)

    def settings(self) -> ClientSettings:
        data = self.cleaned_data
        return ClientSettings(
            name=data.get("name", ""), confidential=data.get("confidential", False),
            grant_types=list(data.get("grant_types", [])), redirect_uris=_lines(data.get("redirect_uris", "")),
            post_logout_redirect_uris=_lines(data.get("post_logout_redirect_uris", "")),
            web_origins=_lines(data.get("web_origins", "")), first_party=data.get("first_party", False),
            algorithm=data.get("algorithm", ""), access_token_format=data.get("access_token_format", ""),
            application_type=data.get("application_type", ""), admin_scopes=list(data.get("admin_scopes", [])))

    def clean(self) -> dict[str, Any]:
        super().clean()
        if not self.errors:
            wanted = self.settings()
            try:
                wanted.validate()
            except ValidationError as exc:
                raise forms.ValidationError(exc.messages) from exc
            offered = policy_for(self.instance.tenant if self.instance.tenant_id else _tenant()).signing_algorithms
            if wanted.algorithm not in offered:
                self.add_error("algorithm", f"This organisation signs with {', '.join(offered)} "
                                            "(its security policy).")
        return self.cleaned_data


def _tenant() -> Any:
    from tenants.context import require_tenant

    return require_tenant()


@admin.register(Application, site=site)
class ClientAdmin(TenantModelAdmin):
    """The tenant's OAuth clients: added, changed and deleted (full admins) through
    idp.services.clients; "rotate secret" issues a new secret and shows it once."""

    form = ClientForm
    allow_add = allow_change = allow_delete = allow_actions = True
    list_display = ("name", "client_id", "client_type", "grant_list", "algorithm", "created")
    list_filter = ("client_type", "algorithm", "application_type")
    search_fields = ("name", "client_id")
    ordering = ("name", "client_id")
    readonly_fields = ("client_id", "client_type", "created", "updated")
    actions = ("rotate_secret",)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and not self.has_change_permission(request, obj):
            # Read-only admins see the stored fields (the form's own fields need a form).
            return ((None, {"fields": ("name", "client_id", "client_type", "created", "updated")}),
                    ("Settings", {"fields": ("grant_types", "redirect_uris", "post_logout_redirect_uris",
                                             "allowed_origins", "skip_authorization", "algorithm",
                                             "access_token_format", "application_type", "admin_scopes")}))
        settings = ("name", "confidential", "grant_types", "redirect_uris", "post_logout_redirect_uris",
                    "web_origins", "first_party", "algorithm", "access_token_format", "application_type",
                    "admin_scopes")
        if obj is None:
            return ((None, {"fields": settings}),)
        return ((None, {"fields": ("client_id", "client_type", "created", "updated")}),
                ("Settings", {"fields": settings}))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else ()

    @admin.display(description="Grant types")
    def grant_list(self, obj: Application) -> str:
        return ", ".join(obj.grant_types)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        wanted = form.settings()
        try:
            if not change:
                new = create_client(**dataclasses.asdict(wanted), actor=actor_of(request))
                obj.pk, obj.client_id = new.application.pk, new.application.client_id
                request._tessera_new_secret = new.client_secret  # type: ignore[attr-defined]
                return
            changes = dataclasses.asdict(wanted)
            changes.pop("confidential")
            update_client(Application.objects.get(pk=obj.pk), actor=actor_of(request), **changes)
        except ValidationError as exc:
            self.refused(request, exc)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        failed = self.refusal(request)
        if failed is not None:
            return failed
        secret = getattr(request, "_tessera_new_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return self._shown_once(request, f"Client {obj.name} registered",
                                [("client_id", obj.client_id), ("client_secret", secret)], obj)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        return self.refusal(request) or super().response_change(request, obj)


    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        delete_client(obj, actor=actor_of(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        for application in queryset:
            delete_client(application, actor=actor_of(request))

    def audit_target(self, obj: Any) -> str | None:
        return str(obj.client_id)

    @admin.action(description="Rotate the secret of the selected confidential clients (shown once)",
                  permissions=["act"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Application]) -> HttpResponse | None:
        shown: list[tuple[str, str]] = []
        for application in queryset.order_by("name", "client_id"):
            if application.client_type != Application.CLIENT_CONFIDENTIAL:
                self.message_user(request, f"{application.name}: a public client has no secret.", messages.WARNING)
                continue
            shown.append((application.client_id, reissue_client_secret(application, actor=actor_of(request))))
        if not shown:
            return None
        return self._shown_once(request, "New client secrets", shown, None)

    def _shown_once(self, request: HttpRequest, title: str, secrets: list[tuple[str, str]], obj: Any) -> HttpResponse:
        return TemplateResponse(request, "admin/tessera/shown_once.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "title": title,
            "intro": "Copy the secret now: only its digest is kept, and it is not shown again. "
                     "The previous secret no longer works.",
            "secrets": secrets,
            "back_url": reverse("admin:idp_application_changelist", current_app=self.admin_site.name),
        })


@admin.register(SigningKey, site=site)
class SigningKeyAdmin(TenantModelAdmin):
    """The tenant's signing keys and their states (view only; the private half is never
    shown). Full admins rotate now (idp.rotation: a next key is published, and signs once
    relying parties have had time to fetch it) or revoke a compromised key at once."""

    allow_actions = True
    list_display = ("kid", "alg", "state", "created", "activated_at", "retired_at", "removed_at", "revoked_at")
    list_filter = ("state", "alg")
    search_fields = ("kid",)
    ordering = ("-created",)
    fields = ("kid", "alg", "state", "public_jwk", "created", "activated_at", "retired_at", "removed_at",
              "revoked_at")
    readonly_fields = fields
    actions = ("revoke_compromised",)

    def get_urls(self) -> list[URLPattern]:
        rotate = path("rotate/", self.admin_site.admin_view(self.rotate_view), name="idp_signingkey_rotate")
        return [rotate, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}),
                                                 "can_rotate": self.has_act_permission(request)})

    def rotate_view(self, request: HttpRequest) -> HttpResponse:
        """POST: begin a rotation now (every algorithm in use gets a next key)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self.require_act(request)
        report = rotate_current_tenant(request.tenant, begin=True, actor=actor_of(request))  # type: ignore[attr-defined]
        changes = "; ".join(report.changes) or "nothing was due (a next key is already published)"
        self.message_user(request, f"Key rotation: {changes}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:idp_signingkey_changelist", current_app=self.admin_site.name))

    def audit_target(self, obj: Any) -> str | None:
        return str(obj.kid)

    @admin.action(description="Revoke the selected keys as compromised (unpublished at once; "
                              "what they signed is revoked)", permissions=["act"])
    def revoke_compromised(self, request: HttpRequest, queryset: QuerySet[SigningKey]) -> HttpResponse | None:
        keys = list(queryset.exclude(state=SigningKey.State.REVOKED).order_by("created"))
        if not keys:
            self.message_user(request, "The selected keys are revoked already.", messages.INFO)
            return None
        if request.POST.get("post") != "yes":
            return TemplateResponse(request, "admin/tessera/confirm_action.html", {
                **self.admin_site.each_context(request), "opts": self.opts,
                "title": "Revoke signing keys as compromised?",
                "intro": "Each key leaves the JWKS at once and its private half is destroyed; every token "
                         "it signed is revoked and its relying parties must sign their users in again. "
                         "An active key is replaced at once.",
                "objects": [str(k) for k in keys], "queryset": keys, "action": "revoke_compromised",
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            })
        for key in keys:
            try:
                report = revoke_key(request.tenant, key.kid, actor=actor_of(request))  # type: ignore[attr-defined]
            except UnknownKey:
                continue
            self.message_user(request, f"{key.kid}: revoked; {'; '.join(report.changes)}; tokens revoked: "
                                       f"{report.tokens_revoked}.", messages.SUCCESS)
        return None
