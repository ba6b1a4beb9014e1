"""Domain operations of the accounts app: one function per state change.

Each takes keyword-only arguments, owns its transaction, writes its audit entry inside it, and
schedules side effects (live notifications) with `transaction.on_commit`.
"""

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import privilege
from apps.accounts.live import disconnect_user_after_commit, publish_after_commit, user_group
from apps.accounts.models import (
    BACKUP_CODE_ALPHABET,
    BACKUP_CODE_LENGTH,
    ROLE_PERMISSIONS,
    STAFF_ROLES,
    ApiToken,
    BackupCode,
    BackupCodeDevice,
    Desk,
    Role,
    User,
    backup_code_hash,
)
from apps.compliance.audit import audit_append

BACKUP_CODE_COUNT = 10
# How often last_used_at of an API token is written at most (one UPDATE per request is waste).
TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)


# --- Role groups ---------------------------------------------------------------------------------
def role_groups_ensure() -> dict[str, Group]:
    """Create the role groups and give them their permissions; safe to call any number of times.

    The data migrations do this once; tests (whose database may be flushed) and seed_demo call
    this to be sure. Each group ends with exactly its role's permissions.
    """
    groups: dict[str, Group] = {}
    with transaction.atomic():
        for role in Role.values:
            group, _created = Group.objects.get_or_create(name=role)
            before = sorted(_dotted(group.permissions.select_related("content_type")))
            permissions = [_permission(dotted) for dotted in ROLE_PERMISSIONS.get(role, ())]
            # Exactly the map: a permission taken out of it (auth.change_group) is taken away.
            group.permissions.set(permissions)
            after = sorted(set(ROLE_PERMISSIONS.get(role, ())))
            if before != after:
                # A role's permissions change only here (the admin shows groups read-only).
                audit_append(
                    actor=None,
                    action="accounts.role_permissions_set",
                    obj=group,
                    payload={"role": role, "permissions": {"before": before, "after": after}},
                )
            groups[role] = group
    return groups


def _dotted(permissions: Iterable[Permission]) -> list[str]:
    return [f"{perm.content_type.app_label}.{perm.codename}" for perm in permissions]


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".", 1)
    found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    if found is not None:
        return found
    # After a flush the post_migrate permissions are gone too; make the one we need.
    model = {
        "view_trading_area": "user",
        "view_risk_area": "user",
        "view_compliance_area": "user",
        "view_operations_area": "user",
        "verify_audit": "auditentry",
    }.get(codename, codename.split("_", 1)[1])
    content_type, _created = ContentType.objects.get_or_create(app_label=app_label, model=model)
    return Permission.objects.get_or_create(
        content_type=content_type, codename=codename, defaults={"name": codename}
    )[0]


# --- Sign-in events ------------------------------------------------------------------------------
def _client(request: HttpRequest | None) -> dict[str, str]:
    if request is None:
        return {}
    ip = getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR", "")
    return {"ip": ip or "", "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200]}


def login_record(*, user: User, request: HttpRequest | None) -> None:
    audit_append(actor=user, action="accounts.login", obj=user, payload=_client(request))


def login_failed_record(*, username: str, request: HttpRequest | None) -> None:
    """A failed sign-in. The username may name nobody; the actor is never the account's owner."""
    username = str(username or "").replace("\x00", "")[:150]
    target = User.objects.filter(username=username).first() if username else None
    audit_append(
        actor=None,
        action="accounts.login_failed",
        obj=target,
        payload={"username": username, **_client(request)},
    )


def lockout_record(*, username: str, request: HttpRequest | None) -> None:
    username = str(username or "").replace("\x00", "")[:150]
    target = User.objects.filter(username=username).first() if username else None
    audit_append(
        actor=None,
        action="accounts.locked_out",
        obj=target,
        payload={"username": username, **_client(request)},
    )


def logout_record(*, user: User, request: HttpRequest | None) -> None:
    audit_append(actor=user, action="accounts.logout", obj=user, payload=_client(request))


# --- MFA -----------------------------------------------------------------------------------------
def mfa_totp_pending(*, user: User) -> TOTPDevice:
    """The user's unconfirmed authenticator-app device, made on first call (same secret after)."""
    with transaction.atomic():
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
        if device is None:
            device = TOTPDevice.objects.create(
                user=user, name=str(_("Authenticator app")), confirmed=False
            )
    return device


def _throttle_error(device: Device) -> ValidationError | None:
    allowed, info = device.verify_is_allowed()
    if allowed:
        return None
    seconds = 1
    if info and info.get("locked_until"):
        seconds = max(1, int((info["locked_until"] - timezone.now()).total_seconds()) + 1)
    return ValidationError(
        _("Too many wrong codes. Try again in %(seconds)s seconds."),
        code="throttled",
        params={"seconds": seconds},
    )


def _new_backup_codes(device: BackupCodeDevice) -> list[str]:
    """Replace the device's codes with fresh ones; return them in plain text (shown once)."""
    device.codes.all().delete()
    codes = [
        "".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(BACKUP_CODE_LENGTH))
        for _ in range(BACKUP_CODE_COUNT)
    ]
    BackupCode.objects.bulk_create(
        BackupCode(device=device, code_hash=backup_code_hash(code)) for code in codes
    )
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def mfa_totp_confirm(*, user: User, device: TOTPDevice, code: str) -> list[str]:
    """Confirm `device` with its first code; create the backup codes and return them.

    Raises ValidationError when the code is wrong (the attempt still counts for throttling).
    """
    if device.user_id != user.pk or device.confirmed:
        raise ValidationError(_("This device cannot be confirmed."), code="invalid_device")
    codes: list[str] = []
    with transaction.atomic():
        # Lock the device: two concurrent confirmations must not both pass with one code.
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        error = _throttle_error(device)
        verified = error is None and device.verify_token(code)
        if verified:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            backup_device, _created = BackupCodeDevice.objects.get_or_create(
                user=user, defaults={"name": str(_("Backup codes")), "confirmed": True}
            )
            codes = _new_backup_codes(backup_device)
            audit_append(
                actor=user,
                action="accounts.mfa_device_confirmed",
                obj=device,
                payload={"device": "totp", "backup_codes": len(codes)},
            )
    if error is not None:
        raise error
    if not verified:
        raise ValidationError(_("That code is not valid. Check your app and try again."), "invalid")
    return codes


def mfa_verify(*, user: User, code: str) -> Device:
    """Check a second-factor code (an app code or a backup code) and return the device it used.

    A backup code is used up. Raises ValidationError for a wrong or throttled code.
    """
    cleaned = "".join(str(code).split())
    # App codes are 6 to 8 digits; backup codes are 10 characters (a few may be all digits).
    is_app_code = cleaned.isdigit() and len(cleaned) <= 8
    device_model: type[Device] = TOTPDevice if is_app_code else BackupCodeDevice
    with transaction.atomic():
        # Locked so that concurrent attempts are counted one after the other (throttling) and a
        # TOTP code or backup code cannot be accepted twice.
        device = (
            device_model.objects.select_for_update()
            .filter(user=user, confirmed=True)
            .order_by("pk")
            .first()
        )
        error: ValidationError | None = None
        if device is None:
            error = ValidationError(_("That code is not valid."), code="invalid")
        else:
            error = _throttle_error(device)
            if error is None and not device.verify_token(cleaned):
                error = ValidationError(_("That code is not valid."), code="invalid")
            if error is None and isinstance(device, BackupCodeDevice):
                audit_append(
                    actor=user,
                    action="accounts.mfa_backup_code_used",
                    obj=device,
                    payload={"remaining": device.remaining()},
                )
    if error is not None or device is None:
        raise error or ValidationError(_("That code is not valid."), code="invalid")
    return device


def mfa_backup_codes_regenerate(*, user: User) -> list[str]:
    """New backup codes for a user with a confirmed second factor; the old ones stop working."""
    with transaction.atomic():
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise ValidationError(_("Set up an authenticator app first."), code="no_device")
        device, _created = BackupCodeDevice.objects.select_for_update().get_or_create(
            user=user, defaults={"name": str(_("Backup codes")), "confirmed": True}
        )
        codes = _new_backup_codes(device)
        audit_append(
            actor=user,
            action="accounts.mfa_backup_codes_regenerated",
            obj=device,
            payload={"backup_codes": len(codes)},
        )
    return codes


def mfa_devices_remove(*, user: User, actor: User | None = None) -> int:
    """Remove the user's second factor (authenticator app and backup codes). Returns how many
    devices were removed."""
    actor = actor or user
    with transaction.atomic():
        totp_ids = list(TOTPDevice.objects.filter(user=user).values_list("pk", flat=True))
        backup_ids = list(BackupCodeDevice.objects.filter(user=user).values_list("pk", flat=True))
        TOTPDevice.objects.filter(pk__in=totp_ids).delete()
        BackupCodeDevice.objects.filter(pk__in=backup_ids).delete()
        removed = len(totp_ids) + len(backup_ids)
        if removed:
            audit_append(
                actor=actor,
                action="accounts.mfa_device_removed",
                obj=user,
                payload={"totp_devices": totp_ids, "backup_code_devices": backup_ids},
            )
    return removed


# Fields of an authenticator-app device audited old -> new; its key never is (only whether it
# changed), as it is the second factor itself.
_DEVICE_FIELDS = ("user_id", "name", "confirmed", "step", "t0", "digits", "tolerance", "drift")


def _device_state(device: TOTPDevice | None) -> dict[str, Any]:
    if device is None:
        return {}
    return {field: getattr(device, field) for field in _DEVICE_FIELDS}


def mfa_device_save(*, actor: User, device: TOTPDevice) -> TOTPDevice:
    """Save an authenticator-app device from the admin, audited old -> new without its key."""
    creating = device.pk is None
    with transaction.atomic():
        stored = None
        if not creating:
            stored = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        before = _device_state(stored)
        device.save()
        after = _device_state(device)
        changes = {
            field: {"before": before.get(field), "after": value}
            for field, value in after.items()
            if creating or before[field] != value
        }
        key_changed = creating or (stored is not None and stored.key != device.key)
        if changes or key_changed:
            audit_append(
                actor=actor,
                action="accounts.mfa_device_created" if creating else "accounts.mfa_device_changed",
                obj=device,
                payload={"user": device.user_id, "changes": changes, "key_changed": key_changed},
            )
        if not creating:
            # A changed second factor: its owner's sockets are judged again.
            disconnect_user_after_commit(device.user_id)
    return device


def mfa_device_delete(*, actor: User, device: TOTPDevice) -> None:
    """Delete an authenticator-app device from the admin, audited with what it was."""
    with transaction.atomic():
        stored = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        reference = (stored._meta.label_lower, stored.pk)
        payload = {"user": stored.user_id, "before": _device_state(stored)}
        stored.delete()
        audit_append(
            actor=actor, action="accounts.mfa_device_deleted", obj=reference, payload=payload
        )
        disconnect_user_after_commit(stored.user_id)


def user_password_set(*, actor: User, user: User, password: str | None) -> User:
    """Set (or, with None, disable) `user`'s password from the admin; audited with whether it
    was usable before and after (never the hash), and the user's sockets closed."""
    with transaction.atomic():
        stored = User.objects.select_for_update().get(pk=user.pk)
        usable_before = stored.has_usable_password()
        if password is None:
            stored.set_unusable_password()
        else:
            stored.set_password(password)
        stored.save(update_fields=["password"])
        audit_append(
            actor=actor,
            action="accounts.password_set",
            obj=stored,
            payload={
                "username": stored.username,
                "usable_password": {"before": usable_before, "after": stored.has_usable_password()},
            },
        )
        disconnect_user_after_commit(stored.pk)
    return stored


# --- API tokens ----------------------------------------------------------------------------------
class ApiTokenError(Exception):
    """The presented API token is not acceptable; `message` says why (safe to show)."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


_PREFIX_RE = re.compile(r"[0-9a-f]{12}")  # secrets.token_hex(6), as api_token_create makes


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewApiToken:
    token: ApiToken
    # "<prefix>.<secret>", or None when an Idempotency-Key replay found the earlier token.
    plaintext: str | None
    created: bool


def api_token_create(*, user: User, name: str, idempotency_key: str = "") -> NewApiToken:
    """Make a token for `user`. The plaintext is returned here and never stored.

    With an `idempotency_key` already used by this user, the earlier token is returned instead
    (without its secret, which is no longer known).
    """
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the token a name.")}, code="required")
    idempotency_key = idempotency_key.strip()[:64]
    if idempotency_key:
        earlier = ApiToken.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if earlier is not None:
            return NewApiToken(earlier, None, False)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = timezone.now()
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user,
                name=name,
                prefix=prefix,
                secret_hash=_secret_hash(secret),
                created_at=now,
                expires_at=now + settings.API_TOKEN_LIFETIME,
                idempotency_key=idempotency_key,
            )
            audit_append(
                actor=user,
                action="accounts.api_token_created",
                obj=token,
                payload={
                    "name": name,
                    "prefix": prefix,
                    "expires_at": token.expires_at,
                },
            )
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race.
        earlier = ApiToken.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if earlier is None:
            raise
        return NewApiToken(earlier, None, False)
    return NewApiToken(token, f"{prefix}.{secret}", True)


def api_tokens_for_user(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def api_token_get_for_user(user: User, token_id: int) -> ApiToken:
    """The user's token, or 404: the same answer for "missing" and "not yours"."""
    return get_object_or_404(api_tokens_for_user(user), pk=token_id)


def api_token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    """Revoke `token` (once; revoking again changes nothing)."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_append(
                actor=actor,
                action="accounts.api_token_revoked",
                obj=token,
                payload={"name": token.name, "prefix": token.prefix, "user": token.user_id},
            )
    return token


def api_token_use(*, raw: str) -> ApiToken:
    """The active token `raw` ("<prefix>.<secret>") names, with its user; else ApiTokenError."""
    prefix, dot, secret = raw.partition(".")
    if not dot or not secret or not _PREFIX_RE.fullmatch(prefix):
        raise ApiTokenError(_("Malformed token. Send 'Authorization: Token <prefix>.<secret>'."))
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    expected = token.secret_hash if token is not None else "0" * 64
    # Constant-time comparison of the hashes (also when the prefix is unknown).
    matches = hmac.compare_digest(_secret_hash(secret), expected)
    if token is None or not matches:
        raise ApiTokenError(_("Invalid token."))
    now = timezone.now()
    if token.revoked_at is not None:
        raise ApiTokenError(_("This token has been revoked."))
    if token.expires_at <= now:
        raise ApiTokenError(_("This token has expired."))
    if not token.user.is_active:
        raise ApiTokenError(_("This user account is disabled."))
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# --- Users and desks -----------------------------------------------------------------------------
TRACKED_USER_FIELDS = ("is_active", "is_staff", "is_superuser", "region", "language")


def _role_msgids(names: Iterable[str]) -> list[str]:
    """Role labels untranslated (msgids), for templates that translate per reader."""
    labels = dict(Role.choices)
    with translation.override(None):
        return [str(labels[name]) for name in sorted(names) if name in labels]


def _notify_account_changed(user: User, *, roles: list[str], desks: list[str]) -> None:
    """Tell the user, then close their sockets: a socket keeps the desk groups it joined, so it
    must reconnect to be judged again by the gatekeeper (htmx's ws extension reconnects)."""
    publish_after_commit(
        user_group(user.pk),
        "live/account_changed.html",
        {"roles": _role_msgids(roles), "desks": desks},
    )
    disconnect_user_after_commit(user.pk)


def user_save(
    *,
    actor: User | None,
    user: User,
    groups: Iterable[Group] | None = None,
    desks: Iterable[Desk] | None = None,
) -> User:
    """Save `user` (new or changed) with its roles (groups) and desks, in one transaction.

    Audits the creation, or the before/after of roles, desks and access fields; a changed user
    is told live. `groups`/`desks` of None leave those unchanged.
    """
    creating = user.pk is None
    with transaction.atomic():
        if creating:
            before_fields: dict[str, Any] = {}
            before_roles: list[str] = []
            before_desks: list[str] = []
        else:
            # Lock the row: two admins saving the same user would each audit a stale "before".
            stored = User.objects.select_for_update().get(pk=user.pk)
            before_fields = {field: getattr(stored, field) for field in TRACKED_USER_FIELDS}
            before_roles = sorted(stored.groups.values_list("name", flat=True))
            before_desks = sorted(stored.desks.values_list("code", flat=True))
        if groups is not None:
            groups = list(groups)
        if actor is not None and not actor.is_superuser:
            # Behind the admin's own refusals: no one but a superuser raises anyone to the
            # administrator role or superuser, or touches such an account.
            held = None if creating else stored
            if (held is not None and privilege.is_privileged(held)) or privilege.grants_proposed(
                stored=held, is_superuser=user.is_superuser, groups=groups
            ):
                raise PermissionDenied(_("Only a superuser may change privileged access."))
        # Compliance officers and administrators work in the admin; other roles never do (a
        # superuser stays staff whatever their roles). Always derived, never set by hand.
        role_names = [group.name for group in groups] if groups is not None else before_roles
        user.is_staff = user.is_superuser or any(name in STAFF_ROLES for name in role_names)
        user.save()
        if groups is not None:
            user.groups.set(groups)
        if desks is not None:
            user.desks.set(list(desks))
        user.__dict__.pop("_qz_roles", None)
        after_fields = {field: getattr(user, field) for field in TRACKED_USER_FIELDS}
        after_roles = sorted(user.groups.values_list("name", flat=True))
        after_desks = sorted(user.desks.values_list("code", flat=True))
        if creating:
            audit_append(
                actor=actor,
                action="accounts.user_created",
                obj=user,
                payload={
                    "username": user.username,
                    "roles": after_roles,
                    "desks": after_desks,
                    **after_fields,
                },
            )
        else:
            changed_fields = {
                field: {"before": before_fields[field], "after": after_fields[field]}
                for field in TRACKED_USER_FIELDS
                if before_fields[field] != after_fields[field]
            }
            access_changed = before_roles != after_roles or before_desks != after_desks
            if access_changed or changed_fields:
                audit_append(
                    actor=actor,
                    action="accounts.access_changed",
                    obj=user,
                    payload={
                        "username": user.username,
                        "roles": {"before": before_roles, "after": after_roles},
                        "desks": {"before": before_desks, "after": after_desks},
                        "fields": changed_fields,
                    },
                )
            if access_changed:
                desk_names = list(user.desks.order_by("name").values_list("name", flat=True))
                _notify_account_changed(user, roles=after_roles, desks=desk_names)
            elif before_fields["is_active"] and not user.is_active:
                disconnect_user_after_commit(user.pk)
    return user


def desk_save(*, actor: User | None, desk: Desk, members: Iterable[User] | None = None) -> Desk:
    """Save `desk` and (when given) its members; audit it; tell each added or removed member."""
    creating = desk.pk is None
    with transaction.atomic():
        before_members: set[int] = set()
        if not creating:
            # Lock the desk: concurrent membership edits must not audit a stale "before".
            Desk.objects.select_for_update().get(pk=desk.pk)
            before_members = set(desk.members.values_list("pk", flat=True))
        desk.save()
        if members is not None:
            desk.members.set(list(members))
        after_members = set(desk.members.values_list("pk", flat=True))
        usernames = dict(
            User.objects.filter(pk__in=before_members | after_members).values_list("pk", "username")
        )
        audit_append(
            actor=actor,
            action="accounts.desk_created" if creating else "accounts.desk_changed",
            obj=desk,
            payload={
                "code": desk.code,
                "name": desk.name,
                "region": desk.region,
                "members": {
                    "before": sorted(usernames[pk] for pk in before_members),
                    "after": sorted(usernames[pk] for pk in after_members),
                },
            },
        )
        for changed in User.objects.filter(pk__in=before_members ^ after_members):
            _notify_account_changed(
                changed,
                roles=list(changed.groups.values_list("name", flat=True)),
                desks=list(changed.desks.order_by("name").values_list("name", flat=True)),
            )
    return desk
