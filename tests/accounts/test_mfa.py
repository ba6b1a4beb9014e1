import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import (
    BACKUP_CODE_HASHER,
    BackupCode,
    BackupCodeDevice,
    backup_code_hash,
)
from apps.compliance.models import AuditEntry
from tests.accounts.conftest import audit_actions, confirmed_device, totp_code
from tests.conftest import login_verified
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

SETUP = "/accounts/mfa/setup/"
VERIFY = "/accounts/mfa/verify/"
CODE_RE = re.compile(rb"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


def _sign_in(client: Client, username: str) -> None:
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302


def _enrol(client: Client, user) -> list[str]:
    """Go through the enrolment page as a user would; return the backup codes shown."""
    page = client.get(SETUP)
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(SETUP, {"code": totp_code(device)})
    assert response.status_code == 200
    codes = [code.decode() for code in CODE_RE.findall(response.content)]
    assert len(codes) == 10
    return codes


def test_admin_without_device_cannot_reach_admin_and_is_sent_to_setup(client, administrator):
    _sign_in(client, "admin")
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == SETUP + "?next=%2Fadmin%2F"
    assert client.get("/").status_code == 302


def test_admin_with_unverified_device_is_sent_to_verification(client, administrator):
    confirmed_device(administrator)
    _sign_in(client, "admin")
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == VERIFY + "?next=%2Fadmin%2F"


def test_verified_admin_returns_to_the_page_they_asked_for(client, administrator):
    device = confirmed_device(administrator)
    _sign_in(client, "admin")
    asked = client.get("/admin/accounts/user/")
    response = client.post(asked["Location"], {"code": totp_code(device)})
    assert response.status_code == 302
    assert response["Location"] == "/admin/accounts/user/"


def test_trader_who_enrolled_must_verify_like_everyone_with_a_device(client, trader):
    confirmed_device(trader)
    _sign_in(client, "trader")
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == VERIFY + "?next=%2F"


def test_trader_without_device_is_not_asked_for_a_second_factor(client, trader):
    _sign_in(client, "trader")
    assert client.get("/").status_code == 200


def test_admin_with_verified_totp_code_reaches_admin(client, administrator):
    device = confirmed_device(administrator)
    _sign_in(client, "admin")
    response = client.post(VERIFY, {"code": totp_code(device), "next": "/admin/"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get("/admin/").status_code == 200


def test_compliance_officer_is_sent_to_setup_until_enrolled(client, compliance_officer):
    _sign_in(client, "compliance")
    assert client.get("/compliance/audit/")["Location"] == SETUP + "?next=%2Fcompliance%2Faudit%2F"
    api = client.get("/api/v1/me/")
    assert api.status_code == 403
    assert api.json() == {"detail": "A verified second factor is required."}


def test_setup_page_shows_qr_code_as_data_uri_and_the_secret(client, trader):
    client.force_login(trader)
    response = client.get(SETUP)
    assert response.status_code == 200
    device = TOTPDevice.objects.get(user=trader, confirmed=False)
    assert b'src="data:image/svg+xml' in response.content
    secret = response.context["secret"].replace(" ", "")
    from base64 import b32encode

    assert secret == b32encode(device.bin_key).decode().rstrip("=")
    assert b"<script" not in response.content.split(b"</head>")[1]
    assert b"style=" not in response.content
    # Reloading shows the same pending device, not a new secret.
    client.get(SETUP)
    assert TOTPDevice.objects.filter(user=trader).count() == 1


def test_setup_confirms_device_shows_backup_codes_once_and_audits(client, administrator):
    _sign_in(client, "admin")
    codes = _enrol(client, administrator)
    device = TOTPDevice.objects.get(user=administrator)
    assert device.confirmed
    # The session is verified by the confirmation: the admin opens at once.
    assert client.get("/admin/").status_code == 200
    # Codes are stored as salted password hashes, never in plain text.
    stored = list(BackupCode.objects.order_by("pk").values_list("code_hash", flat=True))
    assert [h.split("$")[:2] for h in stored] == [["pbkdf2_sha256_backup_code", "60000"]] * 10
    assert len({h.split("$")[2] for h in stored}) == 10  # a salt of its own each
    assert all(
        BACKUP_CODE_HASHER.verify(code.replace("-", ""), hashed)
        for code, hashed in zip(codes, stored, strict=True)
    )
    assert not any(code.replace("-", "") in hashed for code in codes for hashed in stored)
    # Shown once: the setup page now redirects to the settings page, which shows no codes.
    again = client.get(SETUP)
    assert again.status_code == 302
    assert again["Location"] == "/accounts/mfa/"
    manage = client.get("/accounts/mfa/")
    assert manage.status_code == 200
    assert not CODE_RE.findall(manage.content)
    entry = AuditEntry.objects.get(action="accounts.mfa_device_confirmed")
    assert entry.actor_id == administrator.pk
    assert entry.payload == {"device": "totp", "backup_codes": 10}


def test_setup_with_wrong_code_gives_form_error_and_leaves_device_unconfirmed(client, trader):
    client.force_login(trader)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=trader)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"
    response = client.post(SETUP, {"code": wrong})
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "code": ["That code is not valid. Check your app and try again."]
    }
    device.refresh_from_db()
    assert not device.confirmed
    assert device.throttling_failure_count == 1
    assert not BackupCodeDevice.objects.filter(user=trader).exists()


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "This field is required."),
        ("12ab56", "Enter the 6-digit code your app shows."),
        ("123", "Enter the 6-digit code your app shows."),
    ],
)
def test_setup_with_malformed_code_gives_form_error(client, trader, code, message):
    client.force_login(trader)
    response = client.post(SETUP, {"code": code})
    assert response.status_code == 200
    assert response.context["form"].errors == {"code": [message]}


def test_setup_throttles_after_a_wrong_code(client, trader):
    client.force_login(trader)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=trader)
    client.post(SETUP, {"code": "000000" if totp_code(device) != "000000" else "111111"})
    # Even the right code is refused while the back-off lasts (1 s after one failure).
    response = client.post(SETUP, {"code": totp_code(device)})
    errors = response.context["form"].errors["code"]
    assert len(errors) == 1
    assert errors[0].startswith("Too many wrong codes. Try again in ")


def test_verify_with_wrong_code_gives_form_error(client, administrator):
    device = confirmed_device(administrator)
    _sign_in(client, "admin")
    wrong = f"{(int(totp_code(device)) + 500_000) % 1_000_000:06d}"
    response = client.post(VERIFY, {"code": wrong})
    assert response.status_code == 200
    assert response.context["form"].errors == {"code": ["That code is not valid."]}
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("code", ["", "abc", "12345", "not-a-backup-code!"])
def test_verify_with_malformed_code_gives_form_error(client, administrator, code):
    confirmed_device(administrator)
    _sign_in(client, "admin")
    response = client.post(VERIFY, {"code": code})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["code"]


def test_backup_code_works_once_only(administrator):
    enrol_client = Client()
    _sign_in(enrol_client, "admin")
    codes = _enrol(enrol_client, administrator)

    first = Client()
    _sign_in(first, "admin")
    response = first.post(VERIFY, {"code": codes[3].upper().replace("-", " ")})
    assert response.status_code == 302
    assert first.get("/admin/").status_code == 200

    second = Client()
    _sign_in(second, "admin")
    response = second.post(VERIFY, {"code": codes[3]})
    assert response.status_code == 200
    assert response.context["form"].errors == {"code": ["That code is not valid."]}
    assert second.get("/admin/").status_code == 302

    used = AuditEntry.objects.get(action="accounts.mfa_backup_code_used")
    assert used.actor_id == administrator.pk
    assert used.payload == {"remaining": 9}


def test_verify_with_totp_after_enrolment_in_a_new_session(administrator):
    enrol_client = Client()
    _sign_in(enrol_client, "admin")
    _enrol(enrol_client, administrator)
    device = TOTPDevice.objects.get(user=administrator)
    client = Client()
    _sign_in(client, "admin")
    # The enrolment used this time step's code; an app code is accepted once, so the next step's.
    response = client.post(VERIFY, {"code": totp_code(device, steps_ahead=1)})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_regenerate_backup_codes_replaces_the_old_ones_and_audits(administrator):
    client = Client()
    _sign_in(client, "admin")
    old_codes = _enrol(client, administrator)
    response = client.post(
        "/accounts/mfa/backup-codes/", {"password": PASSWORD, "code": old_codes[1]}
    )
    assert response.status_code == 200
    new_codes = [code.decode() for code in CODE_RE.findall(response.content)]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    assert BackupCode.objects.filter(device__user=administrator).count() == 10

    other = Client()
    _sign_in(other, "admin")
    refused = other.post(VERIFY, {"code": old_codes[0]})
    assert refused.context["form"].errors == {"code": ["That code is not valid."]}
    # That failure started a one-second back-off; let it pass rather than sleep.
    BackupCodeDevice.objects.filter(user=administrator).update(
        throttling_failure_timestamp=timezone.now() - timedelta(seconds=2)
    )
    assert other.post(VERIFY, {"code": new_codes[0]}).status_code == 302
    entry = AuditEntry.objects.get(action="accounts.mfa_backup_codes_regenerated")
    assert entry.payload == {"backup_codes": 10}


def test_regenerate_needs_a_verified_session(client, administrator):
    confirmed_device(administrator)
    _sign_in(client, "admin")
    response = client.post("/accounts/mfa/backup-codes/")
    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY)
    assert not BackupCode.objects.exists()


def test_regenerate_by_get_is_not_allowed(administrator):
    client = login_verified(Client(), administrator)
    assert client.get("/accounts/mfa/backup-codes/").status_code == 405


def test_remove_device_needs_verified_session(client, trader):
    confirmed_device(trader)
    client.force_login(trader)
    response = client.post("/accounts/mfa/remove/")
    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=trader).count() == 1


def test_remove_device_removes_app_and_codes_and_audits(administrator):
    client = Client()
    _sign_in(client, "admin")
    codes = _enrol(client, administrator)
    assert client.get("/accounts/mfa/remove/").status_code == 200
    response = client.post("/accounts/mfa/remove/", {"password": PASSWORD, "code": codes[0]})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=administrator).exists()
    assert not BackupCodeDevice.objects.filter(user=administrator).exists()
    assert not BackupCode.objects.exists()
    # An administrator must enrol again before anything else.
    assert client.get("/admin/")["Location"] == SETUP + "?next=%2Fadmin%2F"
    entry = AuditEntry.objects.get(action="accounts.mfa_device_removed")
    assert entry.actor_id == administrator.pk
    assert "accounts.mfa_backup_code_used" in audit_actions()
    assert len(entry.payload["totp_devices"]) == 1
    assert len(entry.payload["backup_code_devices"]) == 1


def test_verify_page_without_device_sends_to_setup(client, trader):
    client.force_login(trader)
    assert client.get(VERIFY)["Location"] == SETUP


def test_verify_next_must_stay_on_this_site(client, administrator):
    device = confirmed_device(administrator)
    _sign_in(client, "admin")
    response = client.post(VERIFY, {"code": totp_code(device), "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_mfa_pages_need_sign_in(client):
    for url in (SETUP, VERIFY, "/accounts/mfa/", "/accounts/mfa/remove/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(
            settings.LOGIN_URL.replace("accounts:", "/accounts/")
        )


# --- Changing or removing the second factor asks for both factors again ------------------------
REMOVE = "/accounts/mfa/remove/"
REGENERATE = "/accounts/mfa/backup-codes/"


def _enrolled_admin(administrator) -> tuple[Client, list[str]]:
    client = Client()
    _sign_in(client, "admin")
    return client, _enrol(client, administrator)


def test_remove_without_password_and_code_removes_nothing(administrator):
    client, _codes = _enrolled_admin(administrator)
    response = client.post(REMOVE)
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "password": ["This field is required."],
        "code": ["This field is required."],
    }
    assert TOTPDevice.objects.filter(user=administrator, confirmed=True).count() == 1
    assert not AuditEntry.objects.filter(action="accounts.mfa_device_removed").exists()


def test_remove_with_wrong_password_removes_nothing_and_keeps_the_code(administrator):
    client, codes = _enrolled_admin(administrator)
    response = client.post(REMOVE, {"password": "not-the-password", "code": codes[0]})
    assert response.status_code == 200
    assert response.context["form"].errors == {"password": ["That password is not correct."]}
    assert TOTPDevice.objects.filter(user=administrator).count() == 1
    assert BackupCode.objects.filter(used_at__isnull=True).count() == 10  # code not tried
    assert audit_actions(action__startswith="accounts.login")[-1] == "accounts.login_failed"


def test_remove_with_wrong_code_removes_nothing(administrator):
    client, _codes = _enrolled_admin(administrator)
    response = client.post(REMOVE, {"password": PASSWORD, "code": "aaaaa-aaaaa"})
    assert response.status_code == 200
    assert response.context["form"].errors == {"code": ["That code is not valid."]}
    assert TOTPDevice.objects.filter(user=administrator).count() == 1
    assert BackupCode.objects.count() == 10


def test_remove_with_app_code_and_password_removes(administrator):
    client, _codes = _enrolled_admin(administrator)
    device = TOTPDevice.objects.get(user=administrator)
    code = totp_code(device, steps_ahead=1)  # the enrolment used this step's code
    response = client.post(REMOVE, {"password": PASSWORD, "code": code})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=administrator).exists()


def test_remove_page_asks_for_password_and_code(administrator):
    client, _codes = _enrolled_admin(administrator)
    content = client.get(REMOVE).content
    assert b'name="password"' in content
    assert b'autocomplete="current-password"' in content
    assert b'name="code"' in content


def test_regenerate_with_wrong_password_keeps_the_old_codes(administrator):
    client, codes = _enrolled_admin(administrator)
    hashes = sorted(BackupCode.objects.values_list("code_hash", flat=True))
    response = client.post(REGENERATE, {"password": "not-the-password", "code": codes[0]})
    assert response.status_code == 200
    assert response.context["form"].errors == {"password": ["That password is not correct."]}
    assert b"Backup codes left" in response.content  # the manage page, with the errors
    assert sorted(BackupCode.objects.values_list("code_hash", flat=True)) == hashes
    assert not AuditEntry.objects.filter(action="accounts.mfa_backup_codes_regenerated").exists()


def test_regenerate_without_code_keeps_the_old_codes(administrator):
    client, _codes = _enrolled_admin(administrator)
    response = client.post(REGENERATE, {"password": PASSWORD})
    assert response.status_code == 200
    assert response.context["form"].errors == {"code": ["This field is required."]}
    assert BackupCode.objects.filter(used_at__isnull=True).count() == 10


# --- Backup codes: salted hashes; the codes of before (keyed HMACs) are gone ----------------------
def test_backup_code_hash_is_salted_and_verifies_only_its_code():
    first, second = backup_code_hash("abcdefghjk"), backup_code_hash("abcdefghjk")
    assert first != second
    assert BACKUP_CODE_HASHER.verify("abcdefghjk", first) is True
    assert BACKUP_CODE_HASHER.verify("abcdefghjm", first) is False


def test_backup_code_works_once(administrator):
    _client, codes = _enrolled_admin(administrator)
    other = Client()
    _sign_in(other, "admin")
    assert other.post(VERIFY, {"code": codes[3]}).status_code == 302
    third = Client()
    _sign_in(third, "admin")
    refused = third.post(VERIFY, {"code": codes[3]})
    assert refused.context["form"].errors == {"code": ["That code is not valid."]}
    assert BackupCode.objects.filter(used_at__isnull=False).count() == 1


def test_migration_deletes_keyed_hash_codes_and_keeps_salted_ones(administrator):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("apps.accounts.migrations.0009_backup_codes_salted_hashes")
    device = BackupCodeDevice.objects.create(user=administrator, name="codes", confirmed=True)
    BackupCode.objects.create(device=device, code_hash="ab" * 32)  # an HMAC of before
    kept = BackupCode.objects.create(device=device, code_hash=backup_code_hash("abcdefghjk"))

    migration.delete_keyed_hash_codes(apps, None)

    assert list(BackupCode.objects.values_list("pk", flat=True)) == [kept.pk]


def test_user_without_backup_codes_is_told_to_make_new_ones(administrator):
    device = confirmed_device(administrator)
    BackupCodeDevice.objects.create(user=administrator, name="codes", confirmed=True)
    client = Client()
    _sign_in(client, "admin")
    response = client.post(VERIFY, {"code": totp_code(device)}, follow=True)
    assert response.status_code == 200
    assert b"You have no backup codes left." in response.content
    manage = login_verified(Client(), administrator).get("/accounts/mfa/")
    assert b"You have no backup codes left." in manage.content


def test_user_with_backup_codes_is_not_told_to_make_new_ones(administrator):
    client, _codes = _enrolled_admin(administrator)
    assert b"You have no backup codes left." not in client.get("/accounts/mfa/").content
