"""Four eyes' change requests (apps.compliance.approvals): decided once, by a second person who
holds the target's change permission; stale or vanished objects refused; a rule whose requested
start passed while it waited starts at the approval; PostgreSQL keeps the rows append-only but
for the decision."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.accounts.services import role_groups_ensure, user_save
from apps.compliance.approvals import (
    change_request_approve,
    change_request_create,
    change_request_reject,
)
from apps.compliance.models import AuditEntry, ChangeRequest, PreTradeRule
from apps.compliance.services import RULE_SAVE, RULE_WITHDRAW
from apps.trading.approvals import POLICY_SAVE
from apps.trading.models import DeskTradingPolicy
from tests.conftest import login_verified

pytestmark = pytest.mark.django_db


def _user(username: str, role: str) -> User:
    groups = role_groups_ensure()
    return user_save(actor=None, user=User(username=username), groups=[groups[role]])


@pytest.fixture
def admins() -> tuple[User, User]:
    return _user("admin-a", Role.ADMINISTRATOR), _user("admin-b", Role.ADMINISTRATOR)


@pytest.fixture
def officers() -> tuple[User, User]:
    return _user("officer-a", Role.COMPLIANCE_OFFICER), _user("officer-b", Role.COMPLIANCE_OFFICER)


@pytest.fixture
def policy_request(admins, desk_a) -> ChangeRequest:
    policy = DeskTradingPolicy.objects.create(
        desk=desk_a, approval_threshold=Decimal("1000000"), currency="EUR"
    )
    policy.approval_threshold = Decimal("250000")
    return change_request_create(actor=admins[0], kind=POLICY_SAVE, obj=policy)


def test_request_records_the_proposal_and_the_stored_values_and_changes_nothing(
    policy_request, desk_a
):
    assert (policy_request.values, policy_request.base) == (
        {"desk": desk_a.pk, "approval_threshold": "250000", "currency": "EUR"},
        {"desk": desk_a.pk, "approval_threshold": "1000000.00", "currency": "EUR"},
    )
    assert DeskTradingPolicy.objects.get().approval_threshold == Decimal("1000000.00")
    entry = AuditEntry.objects.get(action="compliance.change_requested")
    assert entry.payload == {
        "kind": "trading.desktradingpolicy.save",
        "object": {"type": "trading.desktradingpolicy", "id": policy_request.object_id},
        "changes": {"approval_threshold": {"old": "1000000.00", "new": "250000"}},
    }


def test_approval_applies_once_and_a_decided_request_is_not_decided_again(policy_request, admins):
    change_request_approve(actor=admins[1], request_id=policy_request.pk)
    assert DeskTradingPolicy.objects.get().approval_threshold == Decimal("250000.00")

    with pytest.raises(ValidationError, match="already been decided"):
        change_request_reject(actor=admins[1], request_id=policy_request.pk)
    assert AuditEntry.objects.filter(action="trading.desktradingpolicy_changed").count() == 1


def test_approval_of_an_object_deleted_since_is_refused(policy_request, admins):
    DeskTradingPolicy.objects.all().delete()

    with pytest.raises(ValidationError, match="has changed since this request was made"):
        change_request_approve(actor=admins[1], request_id=policy_request.pk)

    assert not DeskTradingPolicy.objects.exists()
    policy_request.refresh_from_db()
    assert policy_request.status == "pending"


def test_approver_needs_the_change_permission_of_the_target(policy_request, officers):
    with pytest.raises(ValidationError, match="You may not decide changes of this kind"):
        change_request_approve(actor=officers[0], request_id=policy_request.pk)


def test_an_unknown_kind_is_refused(admins):
    request = ChangeRequest.objects.create(
        kind="nowhere.nothing.save",
        target="nowhere.nothing",
        object_label="?",
        requested_by=admins[0],
    )
    with pytest.raises(ValidationError, match="This kind of change is not known"):
        change_request_approve(actor=admins[1], request_id=request.pk)


def test_a_rule_whose_requested_start_passed_while_waiting_starts_at_the_approval(officers):
    requested_start = timezone.now() - timedelta(hours=2)
    rule = PreTradeRule(
        code="kyc_valid", jurisdiction="UK_FCA", outcome="warn", effective_from=requested_start
    )
    request = change_request_create(actor=officers[0], kind=RULE_SAVE, obj=rule)
    before = timezone.now()

    change_request_approve(actor=officers[1], request_id=request.pk)

    rule = PreTradeRule.objects.get(jurisdiction="UK_FCA")
    assert before <= rule.effective_from <= timezone.now()
    assert AuditEntry.objects.get(action="pretrade_rule.added").actor == officers[1]


def test_withdrawal_of_a_planned_rule_waits_for_a_second_officer(officers):
    planned = PreTradeRule.objects.create(
        code="kyc_valid",
        jurisdiction="UK_FCA",
        outcome="warn",
        effective_from=timezone.now() + timedelta(days=3),
    )
    client = login_verified(Client(), officers[0])

    response = client.post(
        reverse("admin:compliance_pretraderule_delete", args=[planned.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert PreTradeRule.objects.filter(pk=planned.pk).exists()
    request = ChangeRequest.objects.get(kind=RULE_WITHDRAW)
    change_request_approve(actor=officers[1], request_id=request.pk)
    assert not PreTradeRule.objects.filter(pk=planned.pk).exists()
    withdrawn = AuditEntry.objects.get(action="pretrade_rule.withdrawn")
    assert (withdrawn.object_id, withdrawn.payload["jurisdiction"]) == (str(planned.pk), "UK_FCA")


def test_request_page_shows_the_proposal_by_field_name(policy_request, admins):
    client = login_verified(Client(), admins[1])

    response = client.get(
        reverse("admin:compliance_changerequest_change", args=[policy_request.pk])
    )

    assert response.status_code == 200
    assert response.context["can_decide"] is True
    assert (
        '<tr><th scope="row">approval threshold</th><td>1000000.00</td><td>250000</td></tr>'
        in response.text
    )
    assert 'name="_approve"' in response.text
    listing = client.get(reverse("admin:compliance_changerequest_changelist"))
    assert [(row.pk, row.status) for row in listing.context["cl"].result_list] == [
        (policy_request.pk, "pending")
    ]
    assert "Desk four-eyes threshold: set" in listing.text


def test_change_requests_are_append_only_but_for_one_decision_on_postgresql(
    postgres, policy_request, admins
):
    with pytest.raises(DatabaseError), transaction.atomic():
        ChangeRequest.objects.filter(pk=policy_request.pk).update(values={"currency": "USD"})
    with pytest.raises(DatabaseError), transaction.atomic():
        ChangeRequest.objects.filter(pk=policy_request.pk).delete()

    change_request_reject(actor=admins[1], request_id=policy_request.pk, note="no")

    with pytest.raises(DatabaseError), transaction.atomic():
        ChangeRequest.objects.filter(pk=policy_request.pk).update(status="approved")
    policy_request.refresh_from_db()
    assert (policy_request.status, policy_request.note) == ("rejected", "no")


def test_saving_a_desk_threshold_unchanged_makes_no_request(admins, desk_a):
    policy = DeskTradingPolicy.objects.create(
        desk=desk_a, approval_threshold=Decimal("1000000"), currency="EUR"
    )
    client = login_verified(Client(), admins[0])

    response = client.post(
        reverse("admin:trading_desktradingpolicy_change", args=[policy.pk]),
        {"desk": str(desk_a.pk), "approval_threshold": "1000000.00", "currency": "EUR"},
        follow=True,
    )

    assert [str(message) for message in response.context["messages"]] == ["Nothing was changed."]
    assert not ChangeRequest.objects.exists()
