from django.urls import path

from apps.risk import api, views

app_name = "risk"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("runs/", views.runs, name="runs"),
    path("runs/start/", views.run_start, name="run-start"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/rerun/", views.run_rerun, name="run-rerun"),
    path("limits/", views.limits, name="limits"),
    path("limits/new/", views.limit_new, name="limit-new"),
    path("limits/<int:pk>/", views.limit_detail, name="limit-detail"),
    path("limits/<int:pk>/change/", views.limit_change, name="limit-change"),
    path("limit-versions/<int:pk>/approve/", views.limit_approve, name="limit-approve"),
    path("limit-versions/<int:pk>/reject/", views.limit_reject, name="limit-reject"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", views.alert_ack, name="alert-ack"),
]

api_urlpatterns = [
    path("risk/runs/", api.RunListCreateView.as_view(), name="run-list"),
    path("risk/runs/<int:pk>/", api.RunDetailView.as_view(), name="run-detail"),
    path("risk/runs/<int:pk>/results/", api.RunResultsView.as_view(), name="run-results"),
    path("risk/runs/<int:pk>/rerun/", api.RunRerunView.as_view(), name="run-rerun"),
    path("risk/limits/", api.LimitListCreateView.as_view(), name="limit-list"),
    path("risk/limits/<int:pk>/", api.LimitDetailView.as_view(), name="limit-detail"),
    path(
        "risk/limits/<int:pk>/versions/",
        api.LimitVersionCreateView.as_view(),
        name="limit-versions",
    ),
    path(
        "risk/limit-versions/<int:pk>/approve/",
        api.LimitVersionDecisionView.as_view(approve=True),
        name="limit-version-approve",
    ),
    path(
        "risk/limit-versions/<int:pk>/reject/",
        api.LimitVersionDecisionView.as_view(approve=False),
        name="limit-version-reject",
    ),
    path("risk/alerts/", api.AlertListView.as_view(), name="alert-list"),
    path("risk/alerts/<int:pk>/acknowledge/", api.AlertAcknowledgeView.as_view(), name="alert-ack"),
    path("risk/scenarios/", api.ScenarioListView.as_view(), name="scenario-list"),
]
