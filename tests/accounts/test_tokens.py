import hashlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.compliance.models import AuditEntry

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/tokens/"
ME = "/api/v1/me/"


def _session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _bearer(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plaintext}")
    return client


def test_token_created_by_api_works_on_me(trader):
    response = _session(trader).post(TOKENS, {"name": "nightly upload"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "nightly upload"
    assert body["is_active"] is True
    assert body["revoked_at"] is None
    prefix, _secret = body["token"].split(".", 1)
    assert prefix == body["prefix"]
    me = _bearer(body["token"]).get(ME)
    assert me.status_code == 200
    assert me.json()["username"] == "trader"
    token = ApiToken.objects.get(pk=body["id"])
    assert token.last_used_at is not None


def test_token_stores_only_the_sha256_of_the_secret(trader):
    created = api_token_create(user=trader, name="ci")
    prefix, secret = created.plaintext.split(".", 1)
    token = ApiToken.objects.get(prefix=prefix)
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = [
        str(value) for value in ApiToken.objects.filter(pk=token.pk).values().first().values()
    ]
    assert not any(secret in value for value in stored)


def test_token_expires_after_the_configured_lifetime(trader):
    before = timezone.now()
    token = api_token_create(user=trader, name="ci").token
    assert before + settings.API_TOKEN_LIFETIME <= token.expires_at
    assert token.expires_at <= timezone.now() + settings.API_TOKEN_LIFETIME


def test_expired_token_is_refused_with_401(trader):
    created = api_token_create(user=trader, name="ci")
    ApiToken.objects.filter(pk=created.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = _bearer(created.plaintext).get(ME)
    assert response.status_code == 401
    assert response.json() == {"detail": "This token has expired."}
    assert response["WWW-Authenticate"] == 'Token realm="api"'


def test_revoked_token_is_refused_with_401(trader):
    created = api_token_create(user=trader, name="ci")
    revoke = _session(trader).post(f"{TOKENS}{created.token.pk}/revoke/")
    assert revoke.status_code == 200
    assert revoke.json()["is_active"] is False
    response = _bearer(created.plaintext).get(ME)
    assert response.status_code == 401
    assert response.json() == {"detail": "This token has been revoked."}


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Token", "Malformed token header. Send 'Authorization: Token <prefix>.<secret>'."),
        ("Token a b", "Malformed token header. Send 'Authorization: Token <prefix>.<secret>'."),
        ("Token nodot", "Malformed token. Send 'Authorization: Token <prefix>.<secret>'."),
        ("Token .secret", "Malformed token. Send 'Authorization: Token <prefix>.<secret>'."),
        ("Token abcdef012345.wrong-secret", "Invalid token."),
        (
            "Token ABCDEF012345.secret",
            "Malformed token. Send 'Authorization: Token <prefix>.<secret>'.",
        ),
        (
            "Token abc\x00def01234.secret",
            "Malformed token. Send 'Authorization: Token <prefix>.<secret>'.",
        ),
        (
            "Token abcdef0123456789abcdef.s",
            "Malformed token. Send 'Authorization: Token <prefix>.<secret>'.",
        ),
    ],
)
def test_malformed_or_unknown_token_is_refused_with_401(trader, header, detail):
    api_token_create(user=trader, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(ME)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}


def test_token_with_wrong_secret_for_a_real_prefix_is_refused(trader):
    created = api_token_create(user=trader, name="ci")
    response = _bearer(f"{created.token.prefix}.not-the-secret").get(ME)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_token_of_a_deactivated_user_is_refused(trader):
    created = api_token_create(user=trader, name="ci")
    trader.is_active = False
    trader.save(update_fields=["is_active"])
    response = _bearer(created.plaintext).get(ME)
    assert response.status_code == 401
    assert response.json() == {"detail": "This user account is disabled."}


def test_no_credentials_on_me_is_401(client):
    assert APIClient().get(ME).status_code == 401


def test_another_users_token_cannot_be_revoked(trader, other_desk_trader):
    theirs = api_token_create(user=other_desk_trader, name="theirs").token
    response = _session(trader).post(f"{TOKENS}{theirs.pk}/revoke/")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_token_list_shows_only_own_tokens(trader, other_desk_trader):
    api_token_create(user=trader, name="one")
    api_token_create(user=trader, name="two")
    api_token_create(user=other_desk_trader, name="theirs")
    response = _session(trader).get(TOKENS)
    assert response.status_code == 200
    body = response.json()
    assert [token["name"] for token in body["results"]] == ["two", "one"]
    assert all("token" not in token and "secret_hash" not in token for token in body["results"])


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({}, {"name": ["This field is required."]}),
        ({"name": ""}, {"name": ["This field may not be blank."]}),
        ({"name": "   "}, {"name": ["This field may not be blank."]}),
        ({"name": "x" * 101}, {"name": ["Ensure this field has no more than 100 characters."]}),
    ],
)
def test_token_create_with_bad_input_is_400_with_field_errors(trader, payload, errors):
    response = _session(trader).post(TOKENS, payload, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert not ApiToken.objects.exists()


def test_token_create_replay_with_idempotency_key_returns_the_first_token(trader):
    client = _session(trader)
    first = client.post(TOKENS, {"name": "ci"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(TOKENS, {"name": "ci"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["token"] is None
    assert ApiToken.objects.count() == 1


def test_tokens_cannot_be_managed_with_a_token(trader):
    created = api_token_create(user=trader, name="ci")
    response = _bearer(created.plaintext).post(TOKENS, {"name": "more"}, format="json")
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_token_create_and_revoke_are_audited(trader):
    client = _session(trader)
    body = client.post(TOKENS, {"name": "ci"}, format="json").json()
    client.post(f"{TOKENS}{body['id']}/revoke/")
    client.post(f"{TOKENS}{body['id']}/revoke/")  # again: nothing more to record
    created = AuditEntry.objects.get(action="accounts.api_token_created")
    revoked = AuditEntry.objects.get(action="accounts.api_token_revoked")
    assert created.actor_id == trader.pk
    assert created.payload["name"] == "ci"
    assert created.payload["prefix"] == body["prefix"]
    assert (revoked.object_type, revoked.object_id) == ("accounts.apitoken", str(body["id"]))
    assert body["token"].split(".", 1)[1] not in str(created.payload)


# --- The page ------------------------------------------------------------------------------------
def test_token_page_creates_token_and_shows_secret_once(client, trader):
    client.force_login(trader)
    response = client.post("/accounts/tokens/", {"name": "desk script"})
    assert response.status_code == 200
    plaintext = response.context["created"].plaintext
    assert plaintext.encode() in response.content
    assert _bearer(plaintext).get(ME).status_code == 200
    again = client.get("/accounts/tokens/")
    assert plaintext.encode() not in again.content
    assert b"desk script" in again.content


def test_token_page_with_empty_name_gives_form_error(client, trader):
    client.force_login(trader)
    response = client.post("/accounts/tokens/", {"name": "  "})
    assert response.status_code == 200
    assert response.context["form"].errors == {"name": ["This field is required."]}
    assert not ApiToken.objects.exists()


def test_token_page_revokes_own_token(client, trader):
    token = api_token_create(user=trader, name="ci").token
    client.force_login(trader)
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/tokens/"
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_token_page_cannot_revoke_another_users_token(client, trader, other_desk_trader):
    theirs = api_token_create(user=other_desk_trader, name="theirs").token
    client.force_login(trader)
    assert client.post(f"/accounts/tokens/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


@pytest.mark.parametrize(
    ("body", "content_type", "errors"),
    [
        (
            "[]",
            "application/json",
            {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
        ),
        ("{not json", "application/json", None),
        (
            '{"name": "a\\u0000b"}',
            "application/json",
            {
                "name": [
                    "Remove the control or text-direction characters (such as NUL, escape or a "
                    "right-to-left override); they are not accepted."
                ]
            },
        ),
    ],
)
def test_token_create_with_malformed_body_is_400(trader, body, content_type, errors):
    response = _session(trader).post(TOKENS, body, content_type=content_type)
    assert response.status_code == 400
    if errors is not None:
        assert response.json() == errors
    assert not ApiToken.objects.exists()
