from django.urls import path

from apps.accounts import api, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("mfa/setup/", views.mfa_setup, name="mfa-setup"),
    path("mfa/verify/", views.mfa_verify, name="mfa-verify"),
]

api_urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
]
