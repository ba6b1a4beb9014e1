from django.urls import path

from apps.trading import api

app_name = "trading"

urlpatterns: list = []

api_urlpatterns = [
    path("counterparties/", api.CounterpartyListView.as_view(), name="counterparty-list"),
    path(
        "counterparties/<int:pk>/",
        api.CounterpartyDetailView.as_view(),
        name="counterparty-detail",
    ),
    path("markets/", api.MarketListView.as_view(), name="market-list"),
    path("markets/<slug:code>/", api.MarketDetailView.as_view(), name="market-detail"),
]
