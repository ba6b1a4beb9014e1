"""Pages by role: who reaches what, and what the shell shows them.

The permission matrix walks every named URL the project has. Its expectations are written out in
a table, one row per URL name and one column per role, so that a change of access shows up here
as a deliberate edit; a URL the table does not cover fails the coverage test. A second table
(DESK_SCOPED) asks every URL that names a desk's object for desk A's object as a trader of
desk B (404, nothing written) and as desk A's own trader.
"""

# ruff: noqa: E501 -- the permission matrix is laid out as a table, one column per role

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import Role
from apps.accounts.services import api_token_create
from apps.compliance.models import AuditEntry
from apps.risk.models import Alert, LimitKind
from apps.risk.services import (
    limit_change_propose,
    limit_propose,
    limit_version_approve,
    risk_run_request,
)
from apps.trading.models import Market, Order, Trade
from apps.trading.venue import OrderTicket, contract_open, order_submit
from tests.factories import UserFactory
from tests.risk.test_support import book, business_days, curve_history, fx_and_rates


@dataclass(frozen=True)
class Redirect:
    """A 302 to this path (the query string, such as ?next=, is not compared)."""

    path: str


LOGIN = Redirect("/accounts/login/")
HOME = Redirect("/")
MFA_SETUP = Redirect("/accounts/mfa/setup/")
MFA_VERIFY = Redirect("/accounts/mfa/verify/")
MFA_MANAGE = Redirect("/accounts/mfa/")
ADMIN_LOGIN = Redirect("/admin/login/")
ADMIN_INDEX = Redirect("/admin/")

Expected = int | Redirect

# In MODEL_ADMIN_MATRIX: the expectation depends on the model (see COMPLIANCE_MODEL_PAGES).
BY_MODEL = Redirect("<by model>")

# The columns of every row, in this order. Administrators and compliance officers have a
# verified second factor; "admin_unverified" is an administrator who has not passed MFA yet.
ROLES = (
    "anonymous",
    "trader",
    "risk_manager",
    "compliance_officer",
    "field_operator",
    "administrator",
    "admin_unverified",
)

# URL arguments: literal kwargs, or a function of the role users (an object that must exist).
Kwargs = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]] | None


def _admin_device(users: dict[str, Any]) -> dict[str, Any]:
    # django-otp's device config view answers a missing pk with a 500, so name a real one.
    return {"pk": TOTPDevice.objects.get(user=users["administrator"]).pk}


# name: (kwargs, expected per role in ROLES order). GET requests, as a browser would make.
# fmt: off
MATRIX: dict[str, tuple[Kwargs, tuple[Expected, ...]]] = {
    # name                          kwargs      anon         trader       risk         compliance   field        admin        admin_unverified
    "home":                        (None,      (LOGIN,       200,         200,         200,         200,         200,         MFA_SETUP)),
    "healthz":                     (None,      (200,         200,         200,         200,         200,         200,         200)),
    "readyz":                      (None,      (200,         200,         200,         200,         200,         200,         200)),
    # No METRICS_TOKEN in the test settings: no endpoint for anyone (tests/test_metrics.py has the token's cases).
    "metrics":                     (None,      (404,         404,         404,         404,         404,         404,         404)),
    "set_language":                (None,      (405,         405,         405,         405,         405,         405,         405)),
    "accounts:login":              (None,      (200,         HOME,        HOME,        MFA_VERIFY,  HOME,        MFA_VERIFY,  MFA_SETUP)),
    "accounts:logout":             (None,      (200,         200,         200,         200,         200,         200,         200)),
    "accounts:mfa-setup":          (None,      (LOGIN,       200,         200,         MFA_MANAGE,  200,         MFA_MANAGE,  200)),
    "accounts:mfa-verify":         (None,      (LOGIN,       MFA_SETUP,   MFA_SETUP,   HOME,        MFA_SETUP,   HOME,        MFA_SETUP)),
    "accounts:mfa-manage":         (None,      (LOGIN,       MFA_SETUP,   MFA_SETUP,   200,         MFA_SETUP,   200,         MFA_SETUP)),
    "accounts:mfa-backup-codes":   (None,      (405,         405,         405,         405,         405,         405,         MFA_SETUP)),
    "accounts:mfa-remove":         (None,      (LOGIN,       MFA_SETUP,   MFA_SETUP,   200,         MFA_SETUP,   200,         MFA_SETUP)),
    "accounts:api-tokens":         (None,      (LOGIN,       200,         200,         200,         200,         200,         MFA_SETUP)),
    "accounts:api-token-revoke":   ({"token_id": 0},
                                               (405,         405,         405,         405,         405,         405,         MFA_SETUP)),
    # Trading pages: the blotter, its CSV and the trade page for traders and risk managers
    # (scoped by desk); deal capture for traders only.
    "trading:blotter":             (None,      (LOGIN,       200,         200,         403,         403,         403,         MFA_SETUP)),
    "trading:blotter-csv":         (None,      (LOGIN,       200,         200,         403,         403,         403,         MFA_SETUP)),
    "trading:trade-new":           (None,      (LOGIN,       200,         403,         403,         403,         403,         MFA_SETUP)),
    "trading:trade-detail":        ({"pk": 0}, (LOGIN,       404,         404,         403,         403,         403,         MFA_SETUP)),
    # The trade's actions: amend and cancel for traders, approve and reject also for risk
    # managers (a second person); GET of an action leads to the trade page, past the same gates.
    "trading:trade-amend":         ({"pk": 0}, (LOGIN,       404,         403,         403,         403,         403,         MFA_SETUP)),
    "trading:trade-cancel":        ({"pk": 0}, (LOGIN,       404,         403,         403,         403,         403,         MFA_SETUP)),
    "trading:trade-approve":       ({"pk": 0}, (LOGIN,       404,         404,         403,         403,         403,         MFA_SETUP)),
    "trading:trade-reject":        ({"pk": 0}, (LOGIN,       404,         404,         403,         403,         403,         MFA_SETUP)),
    # Positions and P&L: read by traders and risk managers of the desks; only risk managers
    # close a day's P&L (POST only).
    "trading:positions":           (None,      (LOGIN,       200,         200,         403,         403,         403,         MFA_SETUP)),
    "trading:pnl":                 (None,      (LOGIN,       200,         200,         403,         403,         403,         MFA_SETUP)),
    "trading:pnl-close":           (None,      (405,         405,         405,         405,         405,         405,         MFA_SETUP)),
    # The internal venue: traders only (the depth is every trader's; orders are their desks').
    "trading:venue":               (None,      (LOGIN,       200,         403,         403,         403,         403,         MFA_SETUP)),
    "trading:venue-contract":      ({"pk": 0}, (LOGIN,       404,         403,         403,         403,         403,         MFA_SETUP)),
    "trading:venue-orders":        (None,      (LOGIN,       200,         403,         403,         403,         403,         MFA_SETUP)),
    "trading:venue-order-new":     (None,      (LOGIN,       200,         403,         403,         403,         403,         MFA_SETUP)),
    "trading:venue-order-detail":  ({"pk": 0}, (LOGIN,       404,         403,         403,         403,         403,         MFA_SETUP)),
    "trading:venue-order-cancel":  ({"pk": 0}, (LOGIN,       404,         403,         403,         403,         403,         MFA_SETUP)),
    "trading:venue-order-replace": ({"pk": 0}, (LOGIN,       404,         403,         403,         403,         403,         MFA_SETUP)),
    # Risk pages: the desks' traders read (their desks only), risk managers also run, set
    # limits and acknowledge; POST-only actions answer GET with 405.
    "risk:dashboard":              (None,      (LOGIN,       200,         200,         403,         403,         403,         MFA_SETUP)),
    "risk:runs":                   (None,      (LOGIN,       200,         200,         403,         403,         403,         MFA_SETUP)),
    "risk:run-start":              (None,      (405,         405,         405,         405,         405,         405,         MFA_SETUP)),
    "risk:run-detail":             ({"pk": 0}, (LOGIN,       404,         404,         403,         403,         403,         MFA_SETUP)),
    "risk:run-rerun":              ({"pk": 0}, (405,         405,         405,         405,         405,         405,         MFA_SETUP)),
    "risk:limits":                 (None,      (LOGIN,       200,         200,         403,         403,         403,         MFA_SETUP)),
    "risk:limit-new":              (None,      (LOGIN,       403,         200,         403,         403,         403,         MFA_SETUP)),
    "risk:limit-detail":           ({"pk": 0}, (LOGIN,       404,         404,         403,         403,         403,         MFA_SETUP)),
    "risk:limit-change":           ({"pk": 0}, (405,         405,         405,         405,         405,         405,         MFA_SETUP)),
    "risk:limit-approve":          ({"pk": 0}, (405,         405,         405,         405,         405,         405,         MFA_SETUP)),
    "risk:limit-reject":           ({"pk": 0}, (405,         405,         405,         405,         405,         405,         MFA_SETUP)),
    "risk:alerts":                 (None,      (LOGIN,       200,         200,         403,         403,         403,         MFA_SETUP)),
    "risk:alert-ack":              ({"pk": 0}, (405,         405,         405,         405,         405,         405,         MFA_SETUP)),
    "compliance:audit-trail":      (None,      (LOGIN,       403,         403,         200,         403,         200,         MFA_SETUP)),
    "compliance:audit-verify":     (None,      (405,         405,         405,         405,         405,         405,         MFA_SETUP)),
    "accounts-api:me":             (None,      (401,         200,         200,         200,         200,         200,         403)),
    "accounts-api:tokens":         (None,      (403,         200,         200,         200,         200,         200,         403)),
    "accounts-api:token-revoke":   ({"token_id": 0},
                                               (403,         405,         405,         405,         405,         405,         403)),
    # Reference data: readable with a trading, risk or compliance role only (HasTradingRole);
    # an administrator without one of those roles is refused too.
    "trading-api:counterparty-list": (None,    (401,         200,         200,         200,         403,         403,         403)),
    "trading-api:counterparty-detail": ({"pk": 0},
                                               (401,         404,         404,         404,         403,         403,         403)),
    "trading-api:market-list":     (None,      (401,         200,         200,         200,         403,         403,         403)),
    "trading-api:market-detail":   ({"code": "no-such-market"},
                                               (401,         404,         404,         404,         403,         403,         403)),
    # Market data: read like reference data; upload also needs trading.add_curvesnapshot,
    # which no role holds yet (the role map is to grant it to risk managers).
    "trading-api:curve-list":      (None,      (401,         200,         200,         200,         403,         403,         403)),
    "trading-api:curve-detail":    ({"pk": 0}, (401,         404,         404,         404,         403,         403,         403)),
    "trading-api:curve-upload":    (None,      (401,         403,         405,         403,         403,         403,         403)),
    "trading-api:fxrate-list":     (None,      (401,         200,         200,         200,         403,         403,         403)),
    # Trades and positions: read with a trading role (scoped by desk); POST-only endpoints
    # answer GET with 405 once past the trading-role gate.
    "trading-api:trade-list":      (None,      (401,         200,         200,         200,         403,         403,         403)),
    "trading-api:trade-bulk":      (None,      (401,         405,         405,         405,         403,         403,         403)),
    "trading-api:trade-detail":    ({"pk": 0}, (401,         404,         404,         404,         403,         403,         403)),
    "trading-api:trade-amend":     ({"pk": 0}, (401,         405,         405,         405,         403,         403,         403)),
    "trading-api:trade-cancel":    ({"pk": 0}, (401,         405,         405,         405,         403,         403,         403)),
    "trading-api:trade-approve":   ({"pk": 0}, (401,         405,         405,         405,         403,         403,         403)),
    "trading-api:trade-reject":    ({"pk": 0}, (401,         405,         405,         405,         403,         403,         403)),
    "trading-api:position-list":   (None,      (401,         200,         200,         200,         403,         403,         403)),
    # Hourly positions need book, market and month: a GET without them is a 400 with fields.
    "trading-api:position-hourly": (None,      (401,         400,         400,         400,         403,         403,         403)),
    "trading-api:trade-valuation": ({"pk": 0}, (401,         404,         404,         404,         403,         403,         403)),
    "trading-api:pnl":             (None,      (401,         200,         200,         200,         403,         403,         403)),
    # The internal venue's API: traders only; POST-only endpoints answer GET with 405.
    "trading-api:venue-contract-list": (None,  (401,         200,         403,         403,         403,         403,         403)),
    "trading-api:venue-book":      ({"pk": 0}, (401,         404,         403,         403,         403,         403,         403)),
    "trading-api:venue-order-list": (None,     (401,         200,         403,         403,         403,         403,         403)),
    "trading-api:venue-order-detail": ({"pk": 0},
                                               (401,         404,         403,         403,         403,         403,         403)),
    "trading-api:venue-order-cancel": ({"pk": 0},
                                               (401,         405,         403,         403,         403,         403,         403)),
    "trading-api:venue-order-replace": ({"pk": 0},
                                               (401,         405,         403,         403,         403,         403,         403)),
    # The risk API: traders and risk managers read their desks' data; POST-only endpoints
    # answer GET with 405 once past the gate (the services allow writes to risk managers).
    "risk-api:run-list":           (None,      (401,         200,         200,         403,         403,         403,         403)),
    "risk-api:run-detail":         ({"pk": 0}, (401,         404,         404,         403,         403,         403,         403)),
    "risk-api:run-results":        ({"pk": 0}, (401,         404,         404,         403,         403,         403,         403)),
    "risk-api:run-rerun":          ({"pk": 0}, (401,         405,         405,         403,         403,         403,         403)),
    "risk-api:limit-list":         (None,      (401,         200,         200,         403,         403,         403,         403)),
    "risk-api:limit-detail":       ({"pk": 0}, (401,         404,         404,         403,         403,         403,         403)),
    "risk-api:limit-versions":     ({"pk": 0}, (401,         405,         405,         403,         403,         403,         403)),
    "risk-api:limit-version-approve": ({"pk": 0},
                                               (401,         405,         405,         403,         403,         403,         403)),
    "risk-api:limit-version-reject": ({"pk": 0},
                                               (401,         405,         405,         403,         403,         403,         403)),
    "risk-api:alert-list":         (None,      (401,         200,         200,         403,         403,         403,         403)),
    "risk-api:alert-ack":          ({"pk": 0}, (401,         405,         405,         403,         403,         403,         403)),
    "risk-api:scenario-list":      (None,      (401,         200,         200,         403,         403,         403,         403)),
    "api-schema":                  (None,      (401,         200,         200,         200,         200,         200,         403)),
    "api-root":                    (None,      (401,         200,         200,         200,         200,         200,         403)),
    "api-docs":                    (None,      (LOGIN,       200,         200,         200,         200,         200,         403)),
    "api-redoc":                   (None,      (LOGIN,       200,         200,         200,         200,         200,         403)),
    # The admin: OTPAdminSite admits verified staff only (administrators and compliance
    # officers); everyone else meets its login form. A compliance officer reaches the pages of
    # the models its role holds permissions on (COMPLIANCE_MODEL_PAGES) and no others (403).
    "admin:index":                 (None,      (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200,         ADMIN_LOGIN, 200,         MFA_SETUP)),
    "admin:login":                 (None,      (200,         200,         200,         ADMIN_INDEX, 200,         ADMIN_INDEX, MFA_SETUP)),
    "admin:logout":                (None,      (ADMIN_INDEX, ADMIN_INDEX, ADMIN_INDEX, 405,         ADMIN_INDEX, 405,         MFA_SETUP)),
    "admin:password_change":       (None,      (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200,         ADMIN_LOGIN, 200,         MFA_SETUP)),
    "admin:password_change_done":  (None,      (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200,         ADMIN_LOGIN, 200,         MFA_SETUP)),
    "admin:autocomplete":          (None,      (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:jsi18n":                (None,      (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200,         ADMIN_LOGIN, 200,         MFA_SETUP)),
    "admin:app_list":              ({"app_label": "auth"},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 404,         ADMIN_LOGIN, 200,         MFA_SETUP)),
    "admin:view_on_site":          ({"content_type_id": 0, "object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 404,         ADMIN_LOGIN, 404,         MFA_SETUP)),
    # A device's secret key (its config URL, its QR code) is shown to no one, superusers too
    # (OTP_ADMIN_HIDE_SENSITIVE_DATA).
    "admin:otp_totp_totpdevice_config": (_admin_device,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:otp_totp_totpdevice_qrcode": (_admin_device,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:auth_user_password_change": ({"id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 404,         MFA_SETUP)),
    "admin:compliance_auditentry_verify": (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 405,         ADMIN_LOGIN, 405,         MFA_SETUP)),
    # Read-only admins: lockout logs, API tokens (made by their owner) and the audit trail
    # (append-only) refuse add, and the last two refuse delete, even to an administrator.
    "admin:axes_accessattempt_add":       (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:axes_accesslog_add":           (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:axes_accessfailurelog_add":    (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:accounts_apitoken_add":        (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:accounts_apitoken_delete":     ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:compliance_auditentry_add":    (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:compliance_auditentry_delete": ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    # Role groups are the code's map: read-only for everyone, superusers too.
    "admin:auth_group_add":               (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:auth_group_delete":            ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    # Change requests (four eyes) are made by the admins of the changes, never here, and
    # decided (POST) by a second person; none is deleted.
    "admin:compliance_changerequest_add":    (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:compliance_changerequest_delete": ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:compliance_changerequest_decide": ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 405,         ADMIN_LOGIN, 405,         MFA_SETUP)),
    # Trades and positions are written by the trading services only: no add, change or delete.
    "admin:trading_trade_add":            (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:trading_trade_delete":         ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:trading_position_add":         (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:trading_position_delete":      ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    # Daily P&L closes are written by the close only.
    "admin:trading_bookpnl_add":          (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:trading_bookpnl_delete":       ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    # Contracts are set up in the admin (through the venue's service); they are never deleted.
    # Orders and their events are written by the venue only.
    "admin:trading_venuecontract_add":    (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 200,         MFA_SETUP)),
    "admin:trading_venuecontract_delete": ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:trading_order_add":            (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:trading_order_delete":         ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    # Market data is append-only: its add pages are the CSV uploads; nothing is deleted.
    "admin:trading_curvesnapshot_delete": ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:trading_fxrate_delete":        ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:trading_interestrate_delete":  ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    # Risk runs, limits and alerts are read-only in the admin (written by the risk services).
    "admin:risk_riskrun_add":             (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:risk_riskrun_delete":          ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:risk_limit_add":               (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:risk_limit_delete":            ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:risk_alert_add":               (None,
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
    "admin:risk_alert_delete":            ({"object_id": 0},
                                               (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 403,         ADMIN_LOGIN, 403,         MFA_SETUP)),
}

# Every registered ModelAdmin's own pages, by kind: the same gatekeeper (the admin site) for
# all models, so one row per kind; a model whose admin differs gets its own row in MATRIX,
# which wins. Object pages name an object that does not exist (pk 0): the admin sends a
# verified administrator back to the index with a message.
MODEL_ADMIN_MATRIX: dict[str, tuple[Kwargs, tuple[Expected, ...]]] = {
    "changelist": (None,              (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, BY_MODEL,    ADMIN_LOGIN, 200,         MFA_SETUP)),
    "add":        (None,              (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, BY_MODEL,    ADMIN_LOGIN, 200,         MFA_SETUP)),
    "change":     ({"object_id": 0},  (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, BY_MODEL,    ADMIN_LOGIN, ADMIN_INDEX, MFA_SETUP)),
    "history":    ({"object_id": 0},  (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, BY_MODEL,    ADMIN_LOGIN, ADMIN_INDEX, MFA_SETUP)),
    "delete":     ({"object_id": 0},  (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, BY_MODEL,    ADMIN_LOGIN, ADMIN_INDEX, MFA_SETUP)),
}

# The compliance officer's model pages (BY_MODEL above), for the models its role holds
# permissions on; a MATRIX row still wins. Any other model refuses it: 403, but the history of
# a missing object, which sends everyone back to the index before asking.
COMPLIANCE_NO_MODEL: dict[str, Expected] = {"changelist": 403, "add": 403, "change": 403, "history": ADMIN_INDEX, "delete": 403}
COMPLIANCE_MODEL_PAGES: dict[str, dict[str, Expected]] = {
    #                                 changelist         add          change (pk 0)        history              delete (pk 0)
    "compliance.auditentry":      {"changelist": 200, "add": 403, "change": ADMIN_INDEX, "history": ADMIN_INDEX, "delete": 403},
    "compliance.changerequest":   {"changelist": 200, "add": 403, "change": ADMIN_INDEX, "history": ADMIN_INDEX, "delete": 403},
    "compliance.pretraderule":    {"changelist": 200, "add": 200, "change": ADMIN_INDEX, "history": ADMIN_INDEX, "delete": ADMIN_INDEX},
    "trading.counterparty":       {"changelist": 200, "add": 403, "change": ADMIN_INDEX, "history": ADMIN_INDEX, "delete": 403},
    "trading.masteragreement":    {"changelist": 200, "add": 200, "change": ADMIN_INDEX, "history": ADMIN_INDEX, "delete": 403},
    "trading.trade":              {"changelist": 200, "add": 403, "change": ADMIN_INDEX, "history": ADMIN_INDEX, "delete": 403},
}
# fmt: on


def _named_urls() -> list[str]:
    """Every named URL of the project, as namespace:name."""
    names: list[str] = []

    def walk(resolver: URLResolver, namespace: str | None) -> None:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                walk(pattern, inner)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.append(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    walk(get_resolver(), None)
    return names


def _model_admin_kind(name: str) -> tuple[str, str] | None:
    """(model label, 'change') for admin:<app>_<model>_change of a registered model, and so
    on; else None."""
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(prefix) and name.removeprefix(prefix) in MODEL_ADMIN_MATRIX:
            return model._meta.label_lower, name.removeprefix(prefix)
    return None


def _expectation(name: str) -> tuple[Kwargs, tuple[Expected, ...]] | None:
    if name in MATRIX:
        return MATRIX[name]
    found = _model_admin_kind(name)
    if found is None:
        return None
    label, kind = found
    kwargs, row = MODEL_ADMIN_MATRIX[kind]
    by_model = COMPLIANCE_MODEL_PAGES.get(label, COMPLIANCE_NO_MODEL)[kind]
    return kwargs, tuple(by_model if cell is BY_MODEL else cell for cell in row)


def _matches(response: Any, expected: Expected) -> bool:
    if isinstance(expected, Redirect):
        return (
            response.status_code == 302
            and urlsplit(response.headers["Location"]).path == expected.path
        )
    return response.status_code == expected


def _describe(response: Any) -> str:
    if response.status_code in (301, 302):
        return f"{response.status_code} -> {urlsplit(response.headers['Location']).path}"
    return str(response.status_code)


@pytest.fixture
def role_users(
    trader, risk_manager, compliance_officer, field_operator, administrator, verified_client
) -> dict[str, Any]:
    unverified = UserFactory(
        username="admin_unverified",
        roles=[Role.ADMINISTRATOR],
        is_staff=True,
        is_superuser=True,
    )
    clients: dict[str, Client] = {"anonymous": Client()}
    for role, user in (
        ("trader", trader),
        ("risk_manager", risk_manager),
        ("field_operator", field_operator),
        ("admin_unverified", unverified),
    ):
        clients[role] = Client()
        clients[role].force_login(user)
    clients["compliance_officer"] = verified_client(compliance_officer)
    clients["administrator"] = verified_client(administrator)
    return {"clients": clients, "administrator": administrator}


def test_permission_matrix_covers_every_named_url() -> None:
    uncovered = sorted(name for name in _named_urls() if _expectation(name) is None)
    assert uncovered == [], f"Add these URL names to MATRIX in {__name__}: {uncovered}"


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix_role_gets_expected_status(role: str, role_users: dict) -> None:
    client = role_users["clients"][role]
    column = ROLES.index(role)
    mismatches = []
    for name in _named_urls():
        expectation = _expectation(name)
        if expectation is None:
            continue  # reported by test_permission_matrix_covers_every_named_url
        kwargs, row = expectation
        if callable(kwargs):
            kwargs = kwargs(role_users)
        url = reverse(name, kwargs=kwargs)
        response = client.get(url)
        if not _matches(response, row[column]):
            mismatches.append(f"{name} ({url}): got {_describe(response)}, table {row[column]}")
    assert not mismatches, "\n".join(mismatches)


def test_compliance_pages_refuse_trader(client: Client, trader) -> None:
    client.force_login(trader)
    response = client.get("/compliance/audit/")
    assert response.status_code == 403
    assert "Access denied" in response.text
    assert 'class="error-code"><bdi>403</bdi>' in response.text


def test_admin_unreachable_for_trader(client: Client, trader) -> None:
    client.force_login(trader)
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain == [("/admin/login/?next=/admin/", 302)]
    # The admin's login form, never its index: no app list, no model links.
    assert 'id="login-form"' in response.text
    assert "/admin/auth/group/" not in response.text


def test_home_shows_only_own_desks(client: Client, trader, desk_a, desk_b) -> None:
    client.force_login(trader)
    response = client.get("/")
    assert response.status_code == 200
    assert response.text.count("Power Europe") == 2  # the context bar and the desks table
    assert "Gas US" not in response.text
    assert "gas-us" not in response.text


def test_home_shows_trader_cards_only(client: Client, trader) -> None:
    client.force_login(trader)
    text = client.get("/").text
    assert "<h2>Trading</h2>" in text
    assert "<h2>Risk</h2>" not in text
    assert "<h2>Compliance</h2>" not in text
    assert "/compliance/audit/" not in text
    assert 'href="/admin/"' not in text


def test_home_links_audit_trail_for_compliance_officer(verified_client, compliance_officer) -> None:
    text = verified_client(compliance_officer).get("/").text
    assert "<h2>Compliance</h2>" in text
    assert 'href="/compliance/audit/"' in text
    # Staff: counterparties' KYC, pre-trade rules and approvals are kept in the admin.
    assert 'href="/admin/"' in text


def test_home_links_admin_for_administrator(verified_client, administrator) -> None:
    text = verified_client(administrator).get("/").text
    assert 'href="/admin/"' in text
    assert 'href="/compliance/audit/"' in text


def test_home_shows_region_defaults(client: Client, trader) -> None:
    client.force_login(trader)
    text = client.get("/").text
    assert "<dd><bdi>Europe/Brussels</bdi></dd>" in text
    assert "<dd><bdi>EUR</bdi></dd>" in text
    assert "European Union (MiFID II, REMIT)" in text


def test_shell_has_csrf_header_live_region_and_post_logout(client: Client, trader) -> None:
    client.force_login(trader)
    text = client.get("/").text
    assert 'hx-headers=\'{"X-CSRFToken": "' in text
    assert (
        '<aside id="live-notifications" class="live-notifications" hx-ext="ws" '
        'ws-connect="/ws/notifications/"'
    ) in text
    assert '<form class="inline-form" method="post" action="/accounts/logout/">' in text
    assert "<script>" not in text  # CSP: script-src 'self', vendored files only
    assert "style=" not in text


def test_shell_opens_no_socket_before_second_factor(client: Client, administrator) -> None:
    client.force_login(administrator)
    response = client.get("/accounts/mfa/setup/")
    assert response.status_code == 200
    assert "ws-connect" not in response.text


def test_anonymous_is_redirected_to_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/login/?next=/"


def test_unknown_page_is_translated_404(client: Client, trader) -> None:
    client.force_login(trader)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.text


def test_static_assets_are_vendored(client: Client) -> None:
    text = client.get("/accounts/login/").text
    assert '<script src="/static/vendor/htmx-2.0.11.' in text
    assert '<script src="/static/vendor/htmx-ext-ws-2.0.4.' in text
    assert "https://" not in text.split("<body")[0]  # no CDN in <head>


# --- The "trader of another desk" column --------------------------------------------------------
# Every URL that names one desk's object is asked for an object of desk A (power-eu) by a trader
# and a risk manager of desk B (gas-us), then by desk A's own trader. B must get what a missing
# object gets (404: no hint that it exists), or its role's 403 before any lookup, and change
# nothing; A shows the object is really there. POST-only URLs are
# POSTed (an empty body), so that the refusal comes from the object lookup, not the method.
# URLs naming reference data (every desk's) are listed apart, so a new URL must be placed.
# The own desk's requests run in table order: the page's cancel (a redirect to the order) cancels
# the order, so the replace that follows is a form error and the API's cancel a 409.

# The desk objects: what each URL kwarg names.
TRADE, ORDER, RUN, LIMIT, VERSION, ALERT, TOKEN = (
    "trade",
    "order",
    "run",
    "limit",
    "version",
    "alert",
    "token",
)

# fmt: off
# name                                 object    method  own desk  other desk trader, risk manager
DESK_SCOPED: dict[str, tuple[str, str, Expected, Expected, Expected]] = {
    "trading:trade-detail":            (TRADE,   "get",  200,      404, 404),
    "trading:trade-amend":             (TRADE,   "get",  200,      404, 403),
    "trading:trade-cancel":            (TRADE,   "get",  Redirect("<trade>"), 404, 403),
    "trading:trade-approve":           (TRADE,   "get",  Redirect("<trade>"), 404, 404),
    "trading:trade-reject":            (TRADE,   "get",  Redirect("<trade>"), 404, 404),
    "trading:venue-order-detail":      (ORDER,   "get",  200,      404, 403),
    "trading:venue-order-cancel":      (ORDER,   "post", Redirect("<order>"), 404, 403),
    "trading:venue-order-replace":     (ORDER,   "post", 400,      404, 403),
    "risk:run-detail":                 (RUN,     "get",  200,      404, 404),
    "risk:run-rerun":                  (RUN,     "post", 403,      403, 404),
    "risk:limit-detail":               (LIMIT,   "get",  200,      404, 404),
    "risk:limit-change":               (LIMIT,   "post", 403,      403, 404),
    "risk:limit-approve":              (VERSION, "post", 403,      403, 404),
    "risk:limit-reject":               (VERSION, "post", 403,      403, 404),
    "risk:alert-ack":                  (ALERT,   "post", 403,      403, 404),
    "accounts:api-token-revoke":       (TOKEN,   "post", 302,      404, 404),
    "accounts-api:token-revoke":       (TOKEN,   "post", 200,      404, 404),
    "trading-api:trade-detail":        (TRADE,   "get",  200,      404, 404),
    "trading-api:trade-amend":         (TRADE,   "post", 400,      404, 404),
    "trading-api:trade-cancel":        (TRADE,   "post", 400,      404, 404),
    "trading-api:trade-approve":       (TRADE,   "post", 400,      404, 404),
    "trading-api:trade-reject":        (TRADE,   "post", 400,      404, 404),
    "trading-api:trade-valuation":     (TRADE,   "get",  200,      404, 404),
    "trading-api:venue-order-detail":  (ORDER,   "get",  200,      404, 403),
    "trading-api:venue-order-cancel":  (ORDER,   "post", 409,      404, 403),
    "trading-api:venue-order-replace": (ORDER,   "post", 400,      404, 403),
    "risk-api:run-detail":             (RUN,     "get",  200,      404, 404),
    "risk-api:run-results":            (RUN,     "get",  200,      404, 404),
    "risk-api:run-rerun":              (RUN,     "post", 403,      403, 404),
    "risk-api:limit-detail":           (LIMIT,   "get",  200,      404, 404),
    "risk-api:limit-versions":         (LIMIT,   "post", 403,      403, 404),
    "risk-api:limit-version-approve":  (VERSION, "post", 403,      403, 404),
    "risk-api:limit-version-reject":   (VERSION, "post", 403,      403, 404),
    "risk-api:alert-ack":              (ALERT,   "post", 403,      403, 404),
}
# fmt: on
# Redirect("<trade>"): to the trade's page; Redirect("<order>"): to the order's.
DETAIL_PAGES = {
    "<trade>": ("trading:trade-detail", TRADE),
    "<order>": ("trading:venue-order-detail", ORDER),
}
# Every desk's reference data: the same answer for both traders (MATRIX has them).
NOT_DESK_SCOPED = {
    "trading:venue-contract",
    "trading-api:counterparty-detail",
    "trading-api:market-detail",
    "trading-api:curve-detail",
    "trading-api:venue-book",
}


def _names_with_object_kwargs() -> list[str]:
    """Named URLs outside the admin whose route takes an argument."""
    names: list[str] = []

    def walk(resolver: URLResolver, namespace: str | None) -> None:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                if inner != "admin":
                    walk(pattern, inner)
            elif pattern.name and pattern.pattern.regex.groups:
                names.append(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    walk(get_resolver(), None)
    return names


@pytest.fixture
def desk_a_objects(
    trader, risk_manager, desk_a, django_capture_on_commit_callbacks
) -> dict[str, int]:
    """One of each desk object of desk A: a trade, a resting venue order, a risk run of the desk
    whose VaR breaches the desk's limit (hence an alert), the limit's pending change, a token."""
    call_command("seed_reference_data", verbosity=0, from_year=2025, to_year=2030)
    days = business_days(6)
    curve_history("eex-de-power", days, lambda i, k: Decimal("100") + (i % 3) + k)
    fx_and_rates(days)
    trade = book(trader)
    checker = UserFactory(username="risk2", roles=[Role.RISK_MANAGER], desks=[desk_a])
    terms = {"kind": LimitKind.VAR, "desk": desk_a, "method": "historical", "confidence": "0.95"}
    first = limit_propose(user=risk_manager, amount="1", **terms)
    limit_version_approve(user=checker, version=first)
    with django_capture_on_commit_callbacks(execute=True):
        run = risk_run_request(
            user=risk_manager,
            desk=desk_a,
            parameters={"window": 5, "confidences": [0.95], "methods": ["historical"]},
        )
    pending = limit_change_propose(user=risk_manager, limit=first.limit, amount="2")
    contract = contract_open(market=Market.objects.get(code="eex-de-power"), period_code="2029-03")
    order = order_submit(
        user=trader,
        ticket=OrderTicket(
            contract=contract.pk,
            side="buy",
            quantity=Decimal("1"),
            price=Decimal("50"),
            book="PEU-FLOW",
        ),
    ).order
    return {
        TRADE: trade.pk,
        ORDER: order.pk,
        RUN: run.pk,
        LIMIT: first.limit_id,
        VERSION: pending.pk,
        ALERT: Alert.objects.get(desk=desk_a).pk,
        TOKEN: api_token_create(user=trader, name="desk a").token.pk,
    }


def test_desk_scope_table_covers_every_object_url() -> None:
    names = set(_names_with_object_kwargs())
    unplaced = sorted(names - set(DESK_SCOPED) - NOT_DESK_SCOPED)
    assert unplaced == [], f"Place these URL names in DESK_SCOPED or NOT_DESK_SCOPED: {unplaced}"
    assert sorted(set(DESK_SCOPED) - names) == []


def test_desk_scope_other_desk_gets_404(
    trader, other_desk_trader, desk_b, desk_a_objects: dict[str, int]
) -> None:
    other, other_risk, own = Client(), Client(), Client()
    other.force_login(other_desk_trader)
    other_risk.force_login(
        UserFactory(username="risk_b", roles=[Role.RISK_MANAGER], desks=[desk_b])
    )
    own.force_login(trader)
    # Sign-ins are audited: counted from here.
    writes_before = (AuditEntry.objects.count(), Trade.objects.count(), Order.objects.count())
    mismatches = []
    # The other desk first: its requests must leave every object as it was for the own desk's.
    for client, column in ((other, 3), (other_risk, 4), (own, 2)):
        for name, row in DESK_SCOPED.items():
            kind, method = row[0], row[1]
            kwarg = "token_id" if kind == TOKEN else "pk"
            url = reverse(name, kwargs={kwarg: desk_a_objects[kind]})
            response = getattr(client, method)(url)
            expected = row[column]
            if isinstance(expected, Redirect) and expected.path in DETAIL_PAGES:
                page, detail_kind = DETAIL_PAGES[expected.path]
                expected = Redirect(reverse(page, kwargs={"pk": desk_a_objects[detail_kind]}))
            if not _matches(response, expected):
                who = {other: "other desk trader", other_risk: "other desk risk", own: "own desk"}[
                    client
                ]
                mismatches.append(
                    f"{name} {method.upper()} ({who}): got {_describe(response)}, table {expected}"
                )
        if client is not own:
            writes_after = (
                AuditEntry.objects.count(),
                Trade.objects.count(),
                Order.objects.count(),
            )
            assert writes_after == writes_before
    assert not mismatches, "\n".join(mismatches)
