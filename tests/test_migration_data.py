"""Rows written by data migrations survive transactional tests (each one flushes the tables)."""

import pytest

from apps.compliance.models import PreTradeRule


def _default_rule_codes() -> set[str]:
    return set(PreTradeRule.objects.values_list("code", flat=True))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", [1, 2])
def test_default_pretrade_rules_present_in_every_transactional_test(round_: int) -> None:
    assert {"kyc_valid", "credit_limit", "self_trade"} <= _default_rule_codes()
