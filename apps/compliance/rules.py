"""The pre-trade rule kinds compliance knows, their parameters, and what each one checks.

A rule function looks at one proposal and its counterparty and returns a `Finding`: pass, warn,
fail or block. "Fail" means "the rule is broken" and becomes the outcome configured on the rule
in force (warn or block); "block" is for what must never be approved whatever the
configuration (a figure that could not be computed, a counterparty that does not exist).
`apps.compliance.pretrade` turns findings into the contract's `RuleResult`s.

Messages are msgids marked with gettext_noop (extracted by makemessages, translated when the
reason is read) and their parameters are strings: the same result reads in English on the API
and in Arabic on a page.

This module imports nothing from the other apps (the counterparty arrives as a row read through
the app registry) and nothing from the rest of compliance, so that the models can use its
parameter validation.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

if TYPE_CHECKING:
    from apps.compliance.pretrade import TradeProposal


class RuleCode(models.TextChoices):
    KYC_VALID = "kyc_valid", _("Counterparty KYC valid on the trade date")
    CREDIT_LIMIT = "credit_limit", _("Counterparty credit limit")
    SELF_TRADE = "self_trade", _("Self-trade")


class Level(StrEnum):
    PASS = "pass"  # noqa: S105 - a level, not a password
    WARN = "warn"  # a warning whatever the rule's configured outcome
    FAIL = "fail"  # the rule is broken: the rule's configured outcome (warn or block)
    BLOCK = "block"  # never approve (fail closed), whatever the configuration


@dataclass(frozen=True)
class Finding:
    level: Level
    message: str = ""  # untranslated msgid
    params: dict[str, str] = field(default_factory=dict)


PASSED = Finding(Level.PASS)

# --- Messages (msgids; translated when a RuleResult's reason is read) -----------------------------

MSG_NO_COUNTERPARTY = gettext_noop("Counterparty #%(counterparty_id)s does not exist.")
MSG_CHECK_FAILED = gettext_noop("The check could not be completed.")
MSG_KYC_STATUS = {
    "pending": gettext_noop("The counterparty's KYC is still pending approval."),
    "rejected": gettext_noop("The counterparty's KYC was rejected."),
    "expired": gettext_noop("The counterparty's KYC has expired."),
}
MSG_KYC_STATUS_OTHER = gettext_noop("The counterparty's KYC status is %(status)s, not approved.")
MSG_KYC_NO_EXPIRY = gettext_noop("The counterparty's KYC approval has no expiry date.")
MSG_KYC_EXPIRED_ON = gettext_noop(
    "The counterparty's KYC expired on %(expires_on)s, before the trade date %(trade_date)s."
)
MSG_CREDIT_NOT_COMPUTED = gettext_noop(
    "The credit exposure could not be computed (no current exposure or no notional in "
    "%(currency)s)."
)
MSG_CREDIT_OVER_LIMIT = gettext_noop(
    "Credit limit exceeded: exposure %(exposure)s %(currency)s plus this trade %(notional)s "
    "%(currency)s is %(utilisation)s%% of the limit of %(limit)s %(currency)s."
)
MSG_CREDIT_NEAR_LIMIT = gettext_noop(
    "Credit use would reach %(utilisation)s%% of the limit of %(limit)s %(currency)s (warning "
    "above %(warn_at)s%%): exposure %(exposure)s %(currency)s plus this trade %(notional)s "
    "%(currency)s."
)
MSG_SELF_TRADE = gettext_noop(
    "Self-trade: counterparty %(counterparty)s is the book's own legal entity."
)

# --- Parameters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditParams:
    warn_ratio: Decimal | None  # warn above this share of the limit; None: never warn


def _ratio(value: Any) -> Decimal:
    """A ratio written as a decimal string ("0.80") or a whole number; 0 < ratio <= 1."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        # A float (0.8) would carry binary rounding into a compliance threshold: ask for a string.
        raise ValueError("not a decimal string")
    try:
        ratio = Decimal(value)
    except InvalidOperation:
        raise ValueError("not a decimal") from None
    if not ratio.is_finite() or not Decimal(0) < ratio <= Decimal(1):
        raise ValueError("out of range")
    return ratio


def credit_params(params: Any) -> CreditParams:
    """Parse a credit_limit rule's params; ValueError when they are not what the kind takes."""
    if not isinstance(params, Mapping) or set(params) - {"warn_ratio"}:
        raise ValueError("credit_limit takes only warn_ratio")
    raw = params.get("warn_ratio")
    return CreditParams(warn_ratio=None if raw is None else _ratio(raw))


def _no_params(params: Any) -> None:
    if params not in ({}, None):
        raise ValueError("this rule takes no parameters")


_PARAM_PARSERS: dict[str, Callable[[Any], object]] = {
    RuleCode.KYC_VALID: _no_params,
    RuleCode.CREDIT_LIMIT: credit_params,
    RuleCode.SELF_TRADE: _no_params,
}


def parse_params(code: str, params: Any) -> object:
    """The parsed params of a rule of kind `code`; ValueError for an unknown kind or bad params."""
    parser = _PARAM_PARSERS.get(code)
    if parser is None:
        raise ValueError(f"unknown rule kind {code!r}")
    return parser(params)


def validate_params(code: str, params: Any) -> None:
    """ValidationError (for the admin) when `params` are not what rule kind `code` takes."""
    if code not in _PARAM_PARSERS:
        return  # an unknown code is the code field's error, reported there
    try:
        parse_params(code, params)
    except ValueError:
        if code == RuleCode.CREDIT_LIMIT:
            message = _(
                'The credit limit rule takes {"warn_ratio": "0.80"}: a decimal string above 0 '
                "and at most 1 (or no parameters, to never warn)."
            )
        else:
            message = _("This rule takes no parameters: leave them empty.")
        raise ValidationError({"params": message}, code="invalid_params") from None


# --- Formatting figures for messages --------------------------------------------------------------

_CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    """1234567.8 -> "1,234,567.80": grouped, two decimals, rounded half up like a ledger."""
    return f"{value.quantize(_CENT, rounding=ROUND_HALF_UP):,}"


def percent(ratio: Decimal) -> str:
    """0.855 -> "85.50" (the message adds the % sign)."""
    return f"{(ratio * 100).quantize(_CENT, rounding=ROUND_HALF_UP)}"


# --- The rules ------------------------------------------------------------------------------------
# Each takes the proposal, the counterparty row (never None: the engine blocks a missing one) and
# the rule's params; an exception is the engine's to catch (it blocks, fail closed).


def kyc_valid(proposal: "TradeProposal", counterparty: Any, params: Any) -> Finding:
    """Approved, and the approval runs at least to the trade date (the expiry day included)."""
    _no_params(params)
    status = counterparty.kyc_status
    if status != "approved":
        message = MSG_KYC_STATUS.get(status)
        if message is None:
            return Finding(Level.FAIL, MSG_KYC_STATUS_OTHER, {"status": str(status)})
        return Finding(Level.FAIL, message)
    expires_on = counterparty.kyc_expires_on
    if expires_on is None:  # a database constraint forbids it; fail closed if it ever happens
        return Finding(Level.FAIL, MSG_KYC_NO_EXPIRY)
    if expires_on < proposal.trade_date:
        return Finding(
            Level.FAIL,
            MSG_KYC_EXPIRED_ON,
            {
                "expires_on": expires_on.isoformat(),
                "trade_date": proposal.trade_date.isoformat(),
            },
        )
    return PASSED


def credit_limit(proposal: "TradeProposal", counterparty: Any, params: Any) -> Finding:
    """(exposure + this trade's notional) / limit: above 1 the rule fails, above warn_ratio it
    warns. Exactly at the limit is within it. Both figures are in the credit currency.

    The exposure is the larger of the running sum of notionals (trading's, always current)
    and the counterparty's credit usage in the latest risk run (MtM, PFE and settlement
    exposure): whichever says more risk."""
    config = credit_params(params)
    currency = counterparty.credit_currency
    exposure = proposal.counterparty_exposure
    notional = proposal.notional_in_credit_currency
    if exposure is None or notional is None:
        # Without the figures the limit cannot be shown to hold: fail closed.
        return Finding(Level.BLOCK, MSG_CREDIT_NOT_COMPUTED, {"currency": currency})
    risk_usage = getattr(counterparty, "risk_credit_usage", None)
    if risk_usage is not None:
        exposure = max(exposure, Decimal(risk_usage))
    limit = Decimal(counterparty.credit_limit)
    utilisation = (exposure + notional) / limit
    figures = {
        "exposure": money(exposure),
        "notional": money(notional),
        "limit": money(limit),
        "currency": currency,
        "utilisation": percent(utilisation),
    }
    if utilisation > 1:
        return Finding(Level.FAIL, MSG_CREDIT_OVER_LIMIT, figures)
    if config.warn_ratio is not None and utilisation > config.warn_ratio:
        return Finding(
            Level.WARN,
            MSG_CREDIT_NEAR_LIMIT,
            {**figures, "warn_at": percent(config.warn_ratio)},
        )
    return PASSED


def self_trade(proposal: "TradeProposal", counterparty: Any, params: Any) -> Finding:
    """The counterparty is our own legal entity, the one the book belongs to."""
    _no_params(params)
    internal = counterparty.internal_entity_id
    if internal is not None and internal == proposal.legal_entity_id:
        return Finding(Level.FAIL, MSG_SELF_TRADE, {"counterparty": counterparty.short_code})
    return PASSED


RuleFunction = Callable[["TradeProposal", Any, Any], Finding]

RULES: dict[str, RuleFunction] = {
    RuleCode.KYC_VALID: kyc_valid,
    RuleCode.CREDIT_LIMIT: credit_limit,
    RuleCode.SELF_TRADE: self_trade,
}

# The counterparty columns the rules read: the engine loads only these.
COUNTERPARTY_FIELDS = (
    "id",
    "short_code",
    "kyc_status",
    "kyc_expires_on",
    "credit_limit",
    "credit_currency",
    "internal_entity_id",
)
