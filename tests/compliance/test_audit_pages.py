"""The audit trail through its doors: the portal page, its verify button, and the admin."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.compliance.audit import audit_append
from apps.compliance.models import AuditEntry
from tests.conftest import login_verified

TRAIL = reverse("compliance:audit-trail")
VERIFY = reverse("compliance:audit-verify")


def _append(count: int, action: str = "test.event") -> None:
    for number in range(count):
        audit_append(actor=None, action=action, payload={"n": number})


def _seqs(response) -> list[int]:
    return [entry.seq for entry in response.context["entries"]]


def test_audit_trail_page_is_forbidden_to_a_trader(client, trader):
    client.force_login(trader)

    assert client.get(TRAIL).status_code == 403
    assert client.post(VERIFY).status_code == 403
    assert not AuditEntry.objects.filter(action="audit.verified").exists()


def test_audit_trail_page_sends_anonymous_users_to_login(client, db):
    response = client.get(TRAIL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("role_user", ["compliance_officer", "administrator"])
def test_audit_trail_page_lists_newest_entries_first(client, role_user, request):
    login_verified(client, request.getfixturevalue(role_user))
    _append(3)
    newest = AuditEntry.objects.filter(action="test.event").order_by("-seq")[0]

    response = client.get(TRAIL, {"action": "test.event"})

    assert response.status_code == 200
    assert _seqs(response) == [newest.seq, newest.seq - 1, newest.seq - 2]
    assert response.context["next_before"] is None
    assert b"Verify the chain" in response.content


def test_audit_trail_page_pages_by_keyset_on_seq(officer_client):
    _append(60)
    seqs = list(
        AuditEntry.objects.filter(action="test.event")
        .order_by("-seq")
        .values_list("seq", flat=True)
    )

    first = officer_client.get(TRAIL, {"action": "test.event"})
    second = officer_client.get(TRAIL, {"action": "test.event", "before": seqs[49]})

    assert _seqs(first) == seqs[:50]
    assert first.context["next_before"] == seqs[49]
    assert f"before={seqs[49]}".encode() in first.content
    assert _seqs(second) == seqs[50:]
    assert second.context["next_before"] is None


def test_audit_trail_page_filters_by_actor(officer_client, trader):
    audit_append(actor=trader, action="test.by_trader")
    _append(2)

    response = officer_client.get(TRAIL, {"actor": "trader"})

    assert [entry.action for entry in response.context["entries"]] == ["test.by_trader"]


def test_audit_trail_page_answers_a_bad_position_with_400(officer_client):
    response = officer_client.get(TRAIL, {"before": "not-a-number"})

    assert response.status_code == 400
    assert response.context["entries"] == []


def test_audit_trail_page_queries_do_not_grow_with_entries(
    officer_client, trader, django_assert_num_queries
):
    audit_append(actor=trader, action="test.page")
    officer_client.get(TRAIL)  # warm up anything cached per process (content types, etc.)
    with CaptureQueriesContext(connection) as one_entry:
        response = officer_client.get(TRAIL, {"action": "test.page"})
    assert len(response.context["entries"]) == 1
    audit_append(actor=trader, action="test.page")
    audit_append(actor=None, action="test.page")

    with django_assert_num_queries(len(one_entry.captured_queries)):
        response = officer_client.get(TRAIL, {"action": "test.page"})

    assert len(response.context["entries"]) == 3


def test_audit_verify_button_records_the_result(officer_client, compliance_officer):
    _append(2)
    before = AuditEntry.objects.count()

    response = officer_client.post(VERIFY, follow=True)

    assert response.redirect_chain == [(TRAIL, 302)]
    recorded = AuditEntry.objects.order_by("-seq")[0]
    assert (recorded.action, recorded.actor_id) == ("audit.verified", compliance_officer.pk)
    assert recorded.payload["ok"] is True
    assert recorded.payload["checked"] == before
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [f"The audit chain holds: {before} entries verified."]


def test_audit_verify_button_refuses_get(officer_client):
    assert officer_client.get(VERIFY).status_code == 405


def test_audit_admin_is_read_only(admin_client_verified):
    _append(1)
    entry = AuditEntry.objects.order_by("-seq")[0]

    changelist = admin_client_verified.get(reverse("admin:compliance_auditentry_changelist"))
    detail = admin_client_verified.get(
        reverse("admin:compliance_auditentry_change", args=[entry.seq])
    )
    add = admin_client_verified.get(reverse("admin:compliance_auditentry_add"))
    delete = admin_client_verified.post(
        reverse("admin:compliance_auditentry_delete", args=[entry.seq]), {"post": "yes"}
    )

    assert changelist.status_code == 200
    assert b"Verify the whole chain" in changelist.content
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert add.status_code == 403
    assert delete.status_code == 403
    assert AuditEntry.objects.filter(seq=entry.seq).exists()


def test_audit_admin_verify_records_the_result_as_a_message(admin_client_verified, administrator):
    _append(2)
    before = AuditEntry.objects.count()
    changelist = reverse("admin:compliance_auditentry_changelist")

    response = admin_client_verified.post(
        reverse("admin:compliance_auditentry_verify"), follow=True
    )

    assert response.redirect_chain == [(changelist, 302)]
    recorded = AuditEntry.objects.order_by("-seq")[0]
    assert (recorded.action, recorded.actor_id) == ("audit.verified", administrator.pk)
    assert recorded.payload["checked"] == before
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [f"The audit chain holds: {before} entries verified."]


def test_audit_admin_verify_is_open_to_compliance_officers(officer_client, compliance_officer):
    compliance_officer.is_staff = True
    compliance_officer.save(update_fields=["is_staff"])

    response = officer_client.post(reverse("admin:compliance_auditentry_verify"))

    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="audit.verified", actor=compliance_officer).exists()
