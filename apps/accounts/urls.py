from django.urls import path

from apps.accounts import api, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("mfa/setup/", views.mfa_setup, name="mfa-setup"),
    path("mfa/verify/", views.mfa_verify, name="mfa-verify"),
    path("mfa/", views.mfa_manage, name="mfa-manage"),
    path("mfa/backup-codes/", views.mfa_backup_codes, name="mfa-backup-codes"),
    path("mfa/remove/", views.mfa_remove, name="mfa-remove"),
    path("tokens/", views.api_tokens, name="api-tokens"),
    path("tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api-token-revoke"),
]

api_urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
    path("tokens/", api.ApiTokenListCreateView.as_view(), name="tokens"),
    path("tokens/<int:token_id>/revoke/", api.ApiTokenRevokeView.as_view(), name="token-revoke"),
]
