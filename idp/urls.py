"""The OpenID provider's endpoints, mounted under each tenant's issuer /t/<tenant>/."""

from django.urls import path

from idp.views import applications, authorize, discovery, introspect, logout, token, userinfo

app_name = "idp"
urlpatterns = [
    path(".well-known/openid-configuration", discovery.openid_configuration, name="openid-configuration"),
    path("jwks.json", discovery.jwks, name="jwks"),
    path("authorize", authorize.AuthorizeView.as_view(), name="authorize"),
    path("token", token.TokenView.as_view(), name="token"),
    path("userinfo", userinfo.UserInfoView.as_view(), name="userinfo"),
    path("revoke", token.RevokeTokenView.as_view(), name="revoke"),
    path("introspect", introspect.IntrospectView.as_view(), name="introspect"),
    path("logout", logout.LogoutView.as_view(), name="logout"),
    # The account page's applications (consents): idp's part of {issuer}/account/.
    path("account/applications", applications.applications_view, name="applications"),
    path("account/applications/<int:pk>/revoke", applications.revoke_view, name="application-revoke"),
]
