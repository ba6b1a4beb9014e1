from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from apps.accounts import urls as account_urls
from apps.accounts import views as account_views
from apps.compliance import urls as compliance_urls
from apps.risk import urls as risk_urls
from apps.trading import urls as trading_urls
from qenergyz import api_docs, health, metrics

handler400 = "apps.accounts.views.bad_request"
handler403 = "apps.accounts.views.permission_denied"
handler404 = "qenergyz.api_errors.not_found"  # JSON under /api/, else the portal's page
handler500 = "apps.accounts.views.server_error"

urlpatterns = [
    path("", account_views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # For Prometheus, behind METRICS_TOKEN (qenergyz.metrics).
    path("metrics", metrics.metrics_view, name="metrics"),
    # Our own view: it validates the code and saves it on the signed-in user as well.
    path("i18n/setlang/", account_views.set_language, name="set_language"),
    path("accounts/", include("apps.accounts.urls")),
    path("compliance/", include("apps.compliance.urls")),
    path("trading/", include("apps.trading.urls")),
    path("risk/", include("apps.risk.urls")),
    path("admin/", admin.site.urls),
    # Each app's urls.py names its pages (`urlpatterns`) and its API (`api_urlpatterns`).
    path("api/v1/", api_docs.ApiRootView.as_view(), name="api-root"),
    path("api/v1/", include((account_urls.api_urlpatterns, "accounts-api"))),
    path("api/v1/", include((compliance_urls.api_urlpatterns, "compliance-api"))),
    path("api/v1/", include((trading_urls.api_urlpatterns, "trading-api"))),
    path("api/v1/", include((risk_urls.api_urlpatterns, "risk-api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs.ApiSwaggerView.as_view(), name="api-docs"),
    path("api/redoc/", api_docs.ApiRedocView.as_view(), name="api-redoc"),
]
