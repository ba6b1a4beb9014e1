"""Pre-trade checks: what trading hands compliance before it books, and what comes back.

Compliance knows a trade only through a `TradeProposal` (plain data, no trading imports) and
reads its own data (rules, and counterparties through lazy model references). Trading calls
`pretrade_check(proposal)` inside its booking transaction, after taking the book's position lock.

A rule answers pass, warn or block with a reason kept untranslated (a msgid and its
parameters), so the same result reads in English on the API and in Arabic on a page. An error
inside a rule is a block: a check that cannot be made never approves a trade.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.utils.translation import gettext


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    WARN = "warn"
    BLOCK = "block"


_SEVERITY = {Outcome.PASS: 0, Outcome.WARN: 1, Outcome.BLOCK: 2}


@dataclass(frozen=True)
class TradeProposal:
    """A trade trading wants to book (or the new version of one it amends).

    Money is Decimal. `notional_in_credit_currency` and `counterparty_exposure` are in the
    counterparty's credit currency, converted by trading; None means trading could not work it
    out (e.g. no FX rate), and the credit rule then blocks.
    """

    trade_date: date
    trader_id: int
    desk_id: int
    book_id: int
    legal_entity_id: int  # the book's legal entity (our side)
    jurisdiction: str  # the book's legal entity's jurisdiction (accounts.Jurisdiction value)
    counterparty_id: int
    market_code: str
    commodity: str  # trading.Commodity code, e.g. "power", "natural_gas"
    deal_type: str  # e.g. "physical_fixed", "swap", "future", "option"
    side: str  # "buy" or "sell"
    quantity: Decimal  # total quantity, in `unit`
    unit: str
    price: Decimal
    currency: str
    notional: Decimal  # |quantity x price| in `currency`
    notional_in_credit_currency: Decimal | None
    counterparty_exposure: Decimal | None  # current exposure before this trade
    amends_trade_id: int | None = None  # set when this is a new version of a booked trade


@dataclass(frozen=True)
class RuleResult:
    rule: str  # the rule's code, e.g. "kyc_valid"
    outcome: Outcome
    message: str = ""  # untranslated msgid, formatted with `params` when read
    params: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """The reason in the active language."""
        return gettext(self.message) % self.params if self.message else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "outcome": str(self.outcome),
            "message": self.message,
            "params": self.params,
        }


@dataclass(frozen=True)
class CheckReport:
    results: tuple[RuleResult, ...]

    @property
    def outcome(self) -> Outcome:
        worst = max((_SEVERITY[r.outcome] for r in self.results), default=0)
        return next(o for o, s in _SEVERITY.items() if s == worst)

    @property
    def blocked(self) -> bool:
        return self.outcome is Outcome.BLOCK

    @property
    def warnings(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.outcome is Outcome.WARN)

    @property
    def blocks(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.outcome is Outcome.BLOCK)

    def as_list(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.results]
