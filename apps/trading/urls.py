from django.urls import path

from apps.trading import (
    api,
    marketdata_api,
    pnl_api,
    pnl_views,
    trades_api,
    venue_api,
    venue_views,
    views,
)

app_name = "trading"

urlpatterns = [
    path("blotter/", views.blotter, name="blotter"),
    path("blotter.csv", views.blotter_csv, name="blotter-csv"),
    path("trades/new/", views.trade_new, name="trade-new"),
    path("trades/<int:pk>/", views.trade_detail, name="trade-detail"),
    path("trades/<int:pk>/amend/", views.trade_amend, name="trade-amend"),
    path("trades/<int:pk>/cancel/", views.trade_cancel, name="trade-cancel"),
    path("trades/<int:pk>/approve/", views.trade_approve, name="trade-approve"),
    path("trades/<int:pk>/reject/", views.trade_reject, name="trade-reject"),
    path("positions/", pnl_views.positions, name="positions"),
    path("pnl/", pnl_views.pnl, name="pnl"),
    path("pnl/close/", pnl_views.pnl_close, name="pnl-close"),
    # The internal venue (apps.trading.venue_views)
    path("venue/", venue_views.venue, name="venue"),
    path("venue/contracts/<int:pk>/", venue_views.contract_book, name="venue-contract"),
    path("venue/orders/", venue_views.my_orders, name="venue-orders"),
    path("venue/orders/new/", venue_views.order_new, name="venue-order-new"),
    path("venue/orders/<int:pk>/", venue_views.order_detail, name="venue-order-detail"),
    path("venue/orders/<int:pk>/cancel/", venue_views.order_cancel, name="venue-order-cancel"),
    path("venue/orders/<int:pk>/replace/", venue_views.order_replace, name="venue-order-replace"),
]

api_urlpatterns = [
    path("counterparties/", api.CounterpartyListView.as_view(), name="counterparty-list"),
    path(
        "counterparties/<int:pk>/",
        api.CounterpartyDetailView.as_view(),
        name="counterparty-detail",
    ),
    path("markets/", api.MarketListView.as_view(), name="market-list"),
    path("markets/<slug:code>/", api.MarketDetailView.as_view(), name="market-detail"),
    # Market data (apps.trading.marketdata_api)
    path("curves/", marketdata_api.CurveListView.as_view(), name="curve-list"),
    path("curves/upload/", marketdata_api.CurveUploadView.as_view(), name="curve-upload"),
    path("curves/<int:pk>/", marketdata_api.CurveDetailView.as_view(), name="curve-detail"),
    path("fx-rates/", marketdata_api.FxRateListView.as_view(), name="fxrate-list"),
    # Trades and positions (apps.trading.trades_api)
    path("trades/", trades_api.TradeListCreateView.as_view(), name="trade-list"),
    path("trades/bulk/", trades_api.TradeBulkCreateView.as_view(), name="trade-bulk"),
    path("trades/<int:pk>/", trades_api.TradeDetailView.as_view(), name="trade-detail"),
    path("trades/<int:pk>/amend/", trades_api.TradeAmendView.as_view(), name="trade-amend"),
    path("trades/<int:pk>/cancel/", trades_api.TradeCancelView.as_view(), name="trade-cancel"),
    path("trades/<int:pk>/approve/", trades_api.TradeApproveView.as_view(), name="trade-approve"),
    path("trades/<int:pk>/reject/", trades_api.TradeRejectView.as_view(), name="trade-reject"),
    path("positions/", trades_api.PositionListView.as_view(), name="position-list"),
    path("positions/hourly/", pnl_api.HourlyPositionsView.as_view(), name="position-hourly"),
    # Valuation and P&L (apps.trading.pnl_api)
    path(
        "trades/<int:pk>/valuation/",
        pnl_api.TradeValuationView.as_view(),
        name="trade-valuation",
    ),
    path("pnl/", pnl_api.BookPnlView.as_view(), name="pnl"),
    # The internal venue (apps.trading.venue_api)
    path("venue/contracts/", venue_api.ContractListView.as_view(), name="venue-contract-list"),
    path("venue/contracts/<int:pk>/book/", venue_api.BookView.as_view(), name="venue-book"),
    path("venue/orders/", venue_api.OrderListCreateView.as_view(), name="venue-order-list"),
    path("venue/orders/<int:pk>/", venue_api.OrderDetailView.as_view(), name="venue-order-detail"),
    path(
        "venue/orders/<int:pk>/cancel/",
        venue_api.OrderCancelView.as_view(),
        name="venue-order-cancel",
    ),
    path(
        "venue/orders/<int:pk>/replace/",
        venue_api.OrderReplaceView.as_view(),
        name="venue-order-replace",
    ),
]
