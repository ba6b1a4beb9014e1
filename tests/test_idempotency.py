"""The generic Idempotency-Key mechanism (apps.accounts.idempotency)."""

import pytest
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from apps.accounts.idempotency import idempotent
from apps.accounts.models import Desk, IdempotencyRecord
from tests.factories import UserFactory

factory = APIRequestFactory()


class DeskCreateView(APIView):
    """A stand-in create endpoint: makes a desk, answers with `answer_status`."""

    answer_status = 201
    calls = 0

    def post(self, request, scope):
        def handler():
            type(self).calls += 1
            if type(self).answer_status == 500:
                Desk.objects.create(code="half", name="half written")
                raise RuntimeError("boom")
            desk = Desk.objects.create(code=request.data["code"], name=request.data["code"])
            return Response({"id": desk.pk, "code": desk.code}, status=type(self).answer_status)

        return idempotent(request, scope, handler)


@pytest.fixture(autouse=True)
def _reset():
    DeskCreateView.calls = 0
    DeskCreateView.answer_status = 201


@pytest.fixture
def user(db):
    return UserFactory(username="client")


def _call(user, data, key=None, scope="test.desk_create"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    request = factory.post("/desks/", data, format="json", **headers)
    force_authenticate(request, user=user)
    return DeskCreateView.as_view()(request, scope=scope)


def test_without_key_runs_every_time(user):
    _call(user, {"code": "a"})
    _call(user, {"code": "b"})
    assert DeskCreateView.calls == 2


def test_same_key_same_body_replays_first_answer(user):
    first = _call(user, {"code": "a"}, key="k1")
    second = _call(user, {"code": "a"}, key="k1")
    assert DeskCreateView.calls == 1
    assert (second.status_code, second.data) == (201, first.data)
    assert second["Idempotent-Replayed"] == "true"
    assert Desk.objects.filter(code="a").count() == 1


def test_same_key_body_in_other_key_order_is_the_same_request(user):
    _call(user, {"code": "a", "x": 1}, key="k1")
    assert _call(user, {"x": 1, "code": "a"}, key="k1").status_code == 201
    assert DeskCreateView.calls == 1


def test_same_key_other_body_is_422(user):
    _call(user, {"code": "a"}, key="k1")
    response = _call(user, {"code": "b"}, key="k1")
    assert response.status_code == 422
    assert response.data["code"] == "idempotency_key_reused"
    assert not Desk.objects.filter(code="b").exists()


def test_keys_are_per_user_and_per_scope(user):
    other = UserFactory(username="other")
    _call(user, {"code": "a"}, key="k1")
    _call(other, {"code": "b"}, key="k1")
    _call(user, {"code": "c"}, key="k1", scope="test.other_scope")
    assert DeskCreateView.calls == 3
    assert IdempotencyRecord.objects.count() == 3


def test_client_errors_are_stored_and_replayed(user):
    DeskCreateView.answer_status = 400
    _call(user, {"code": "a"}, key="k1")
    assert _call(user, {"code": "a"}, key="k1").status_code == 400
    assert DeskCreateView.calls == 1


def test_conflict_is_not_stored_and_rolls_back(user):
    DeskCreateView.answer_status = 409
    assert _call(user, {"code": "a"}, key="k1").status_code == 409
    assert not Desk.objects.filter(code="a").exists()
    DeskCreateView.answer_status = 201
    assert _call(user, {"code": "a"}, key="k1").status_code == 201
    assert DeskCreateView.calls == 2


def test_exception_leaves_key_free_and_nothing_written(user):
    DeskCreateView.answer_status = 500
    with pytest.raises(RuntimeError):
        _call(user, {"code": "a"}, key="k1")
    assert not IdempotencyRecord.objects.exists()
    assert not Desk.objects.filter(code="half").exists()


@pytest.mark.parametrize("key", ["x" * 256, "bad\x00key"])
def test_malformed_key_is_400(user, key):
    assert _call(user, {"code": "a"}, key=key).status_code == 400
    assert DeskCreateView.calls == 0


def test_malformed_body_is_400_and_neither_run_nor_stored(user):
    # After a failed parse DRF leaves empty data behind: the handler must not run on it (it
    # would answer, and store, "field required" for a request that was never read).
    request = factory.post(
        "/desks/", "{not json", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    force_authenticate(request, user=user)
    response = DeskCreateView.as_view()(request, scope="test.desk_create")
    assert response.status_code == 400
    assert str(response.data["detail"]).startswith("JSON parse error")
    assert DeskCreateView.calls == 0
    assert not IdempotencyRecord.objects.exists()
    assert _call(user, {"code": "a"}, key="k1").status_code == 201
