"""Pre-trade checks: what trading hands compliance before it books, and what comes back.

Compliance knows a trade only through a `TradeProposal` (plain data, no trading imports) and
reads its own data (rules, and counterparties through lazy model references). Trading calls
`pretrade_check(proposal)` inside its booking transaction, after taking the book's position lock.

A rule answers pass, warn or block with a reason kept untranslated (a msgid and its
parameters), so the same result reads in English on the API and in Arabic on a page. An error
inside a rule is a block: a check that cannot be made never approves a trade. So is a trade with
no rule in force at all for its jurisdiction (neither a rule of its own nor one for every
jurisdiction): no checks is not a pass.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.apps import apps as django_apps
from django.db.models import Subquery
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from apps.compliance.models import PreTradeRule, RuleOutcome
from apps.compliance.rules import (
    COUNTERPARTY_FIELDS,
    MSG_CHECK_FAILED,
    MSG_NO_COUNTERPARTY,
    RULES,
    Finding,
    Level,
    RuleCode,
    parse_params,
)
from qenergyz import metrics

logger = logging.getLogger(__name__)


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


# --- The check ------------------------------------------------------------------------------------

# The pseudo-rule under which a problem outside any one rule is reported (the counterparty does
# not exist and no rule is in force, or the rules themselves could not be read).
PRETRADE = "pretrade"
MSG_NO_RULES = gettext_noop(
    "No pre-trade rule is in force for jurisdiction %(jurisdiction)s: the trade cannot be checked."
)


def _rules_in_force(at: datetime) -> dict[str, dict[str, PreTradeRule]]:
    """{jurisdiction ("" for every one): {code: rule}}, in one query.

    Periods of one code and jurisdiction do not overlap, so each pair has at most one rule.
    """
    table: dict[str, dict[str, PreTradeRule]] = {}
    for rule in PreTradeRule.objects.in_force(at).only(
        "id", "code", "jurisdiction", "outcome", "params"
    ):
        table.setdefault(rule.jurisdiction, {})[rule.code] = rule
    return table


def _rules_for(jurisdiction: str, table: dict[str, dict[str, PreTradeRule]]) -> list[PreTradeRule]:
    """The rule of each code for this jurisdiction: its own if it has one, else the generic one.

    Known codes in their usual order; a code this version does not know (written outside the
    admin) comes last, and blocks: it is a check that cannot be made.
    """
    merged = {**table.get("", {}), **(table.get(jurisdiction, {}) if jurisdiction else {})}
    order = {code: index for index, code in enumerate(RuleCode.values)}
    return sorted(merged.values(), key=lambda rule: (order.get(rule.code, len(order)), rule.code))


def _broken_rules(table: dict[str, dict[str, PreTradeRule]]) -> set[int]:
    """Rules in force that cannot run (unknown code, params their kind does not take).

    Found once per batch, so a bad row logs one error, not one per proposal; each proposal it
    applies to is blocked.
    """
    broken = set()
    for rules in table.values():
        for rule in rules.values():
            try:
                parse_params(rule.code, rule.params)
            except Exception:
                logger.exception(
                    "pre-trade rule %s (#%s) cannot run: its proposals are blocked",
                    rule.code,
                    rule.pk,
                )
                broken.add(rule.pk)
    return broken


def _counterparties(ids: Iterable[int]) -> dict[int, Any]:
    """The counterparties' rows the rules read, in one query, each with `risk_credit_usage`:
    its credit usage in the latest risk run (one more query). Through the app registry:
    compliance never imports trading or risk (import-linter holds that)."""
    counterparty = django_apps.get_model("trading", "Counterparty")
    ids = set(ids)
    rows = {
        row.pk: row for row in counterparty.objects.filter(pk__in=ids).only(*COUNTERPARTY_FIELDS)
    }
    usage = _risk_credit_usage(ids)
    for pk, row in rows.items():
        row.risk_credit_usage = usage.get(pk)
    return rows


def _risk_credit_usage(ids: set[int]) -> dict[int, Decimal]:
    """Each counterparty's credit usage (max of current exposure and peak PFE, plus settlement
    exposure; in its credit currency) in the latest finished risk run of all desks, summed over
    our legal entities. Only all-desk runs count: a desk's quick re-run sees that desk's trades
    only. Empty without the risk app or a run."""
    if not django_apps.is_installed("apps.risk"):
        return {}
    result = django_apps.get_model("risk", "CreditExposureResult")
    latest = (
        result.objects.filter(
            run__desk__isnull=True, run__status__in=["succeeded", "partial"], usage__isnull=False
        )
        .order_by("-run__finished_at", "-run_id")
        .values("run_id")[:1]
    )
    usage: dict[int, Decimal] = {}
    for pk, amount in result.objects.filter(
        run_id__in=Subquery(latest), counterparty_id__in=ids, usage__isnull=False
    ).values_list("counterparty_id", "usage"):
        usage[pk] = usage.get(pk, Decimal(0)) + amount
    return usage


def _result(rule: PreTradeRule, finding: Finding) -> RuleResult:
    if finding.level is Level.PASS:
        outcome = Outcome.PASS
    elif finding.level is Level.WARN:
        outcome = Outcome.WARN
    elif finding.level is Level.FAIL:
        outcome = Outcome.WARN if rule.outcome == RuleOutcome.WARN else Outcome.BLOCK
    else:
        outcome = Outcome.BLOCK
    return RuleResult(rule.code, outcome, finding.message, finding.params)


def _check_one(
    proposal: TradeProposal,
    rules: list[PreTradeRule],
    counterparty: Any | None,
    broken: set[int],
) -> CheckReport:
    if counterparty is None:
        missing = {"counterparty_id": str(proposal.counterparty_id)}
        if not rules:
            # No rule would look at it, but a trade with nobody on the other side is never fine.
            return CheckReport((RuleResult(PRETRADE, Outcome.BLOCK, MSG_NO_COUNTERPARTY, missing),))
        return CheckReport(
            tuple(RuleResult(r.code, Outcome.BLOCK, MSG_NO_COUNTERPARTY, missing) for r in rules)
        )
    if not rules:
        # Fail closed: with every rule ended or withdrawn, nothing would stop any trade.
        return CheckReport(
            (
                RuleResult(
                    PRETRADE,
                    Outcome.BLOCK,
                    MSG_NO_RULES,
                    {"jurisdiction": proposal.jurisdiction or "-"},
                ),
            )
        )
    results = []
    for rule in rules:
        if rule.pk in broken:
            results.append(_result(rule, Finding(Level.BLOCK, MSG_CHECK_FAILED)))
            continue
        try:
            finding = RULES[rule.code](proposal, counterparty, rule.params)
        except Exception:
            # Fail closed: a check that cannot be made never approves a trade.
            logger.exception(
                "pre-trade rule %s (#%s) failed on counterparty %s",
                rule.code,
                rule.pk,
                proposal.counterparty_id,
            )
            finding = Finding(Level.BLOCK, MSG_CHECK_FAILED)
        results.append(_result(rule, finding))
    return CheckReport(tuple(results))


def pretrade_check_many(
    proposals: Sequence[TradeProposal], *, at: datetime | None = None
) -> list[CheckReport]:
    """Check each proposal against the rules in force `at` (default: now); reports in order.

    Three queries whatever the number of proposals: the rules in force, the counterparties and
    their credit usage in the latest risk run.
    Never raises: if the data cannot be read at all, every proposal is blocked.
    """
    if not proposals:
        return []
    at = at or timezone.now()
    try:
        table = _rules_in_force(at)
        broken = _broken_rules(table)
        counterparties = _counterparties(p.counterparty_id for p in proposals)
        # A batch's proposals share a few jurisdictions: each one's rules are merged once.
        rules = {
            jurisdiction: _rules_for(jurisdiction, table)
            for jurisdiction in {p.jurisdiction for p in proposals}
        }
        return [
            _check_one(
                proposal,
                rules[proposal.jurisdiction],
                counterparties.get(proposal.counterparty_id),
                broken,
            )
            for proposal in proposals
        ]
    except Exception:
        logger.exception("pre-trade checks could not be run for %d proposals", len(proposals))
        blocked = CheckReport((RuleResult(PRETRADE, Outcome.BLOCK, MSG_CHECK_FAILED),))
        return [blocked] * len(proposals)


def pretrade_check(proposal: TradeProposal, *, at: datetime | None = None) -> CheckReport:
    """Check one proposal (booking or amending) against the rules in force now.

    An amendment is judged by the rules in force when it is made, not when the trade was first
    booked: the rules protect the firm from now on. Three queries.
    """
    return pretrade_check_many([proposal], at=at)[0]


def refusals_count_on_commit(reports: Iterable[CheckReport]) -> None:
    """Count the refusals among `reports` in the metrics, under each blocking rule's code,
    once the current transaction commits. Called where a refusal's audit entry is written
    (not by the check itself: a refused booking's transaction is rolled back), so the count
    agrees with the audit trail."""
    metrics.pretrade_refusals_on_commit(
        result.rule for report in reports for result in report.blocks
    )
