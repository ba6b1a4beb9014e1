from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin as OTPTOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import privilege, services
from apps.accounts.forms import AdminUserChangeForm, DeskAdminForm
from apps.accounts.models import ApiToken, Desk, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Users with their region, language, roles (groups) and desks.

    Every save goes through `services.user_save`, which audits the before/after roles and desks
    and tells the user live; roles are groups, so per-user permissions are not offered here.
    """

    form = AdminUserChangeForm
    list_display = ("username", "email", "region", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "region", "groups", "desks")
    search_fields = ("username", "first_name", "last_name", "email")
    filter_horizontal = ("groups", "desks")
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Region and language"), {"fields": ("region", "language")}),
        (_("Access"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "desks")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "usable_password", "password1", "password2"),
            },
        ),
        (_("Region"), {"fields": ("region",)}),
        (_("Access"), {"fields": ("groups", "desks")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Staff follows the roles (compliance officers and administrators): see user_save.
        readonly = (*super().get_readonly_fields(request, obj), "is_staff")
        if not request.user.is_superuser:
            # Only a superuser may make (or unmake) another superuser.
            readonly += ("is_superuser",)
        return readonly

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only a superuser changes an administrator or a superuser (password and roles too).
        return super().has_change_permission(request, obj) and privilege.may_change_account(
            request.user, obj
        )

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups":
            kwargs["queryset"] = privilege.grantable_groups(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        # The user row, its roles and its desks are written together by the one service; the
        # administrator role and superuser (offered to superusers only) wait for a second one.
        groups = form.cleaned_data.get("groups")
        stored = User.objects.get(pk=obj.pk) if change else None
        grants = privilege.grants_proposed(
            stored=stored, is_superuser=obj.is_superuser, groups=groups
        )
        if grants and not request.user.is_superuser:
            raise PermissionDenied  # the form offers neither; a crafted POST gets no further
        if privilege.GRANT_ADMINISTRATOR in grants and groups is not None:
            groups = [group for group in groups if group.name not in privilege.PRIVILEGED_ROLES]
            if stored is not None:
                groups += list(stored.groups.filter(name__in=privilege.PRIVILEGED_ROLES))
        if privilege.GRANT_SUPERUSER in grants:
            obj.is_superuser = False
        services.user_save(
            actor=request.user, user=obj, groups=groups, desks=form.cleaned_data.get("desks")
        )
        for grant in grants:
            change_request = privilege.grant_request(actor=request.user, user=obj, grant=grant)
            self.message_user(
                request,
                gettext(
                    "Granting %(grant)s to “%(user)s” awaits a second superuser's approval "
                    "(request #%(id)s)."
                )
                % {
                    "grant": _grant_label(grant),
                    "user": obj.username,
                    "id": change_request.pk,
                },
                messages.INFO,
            )

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list, change: bool
    ) -> None:
        # Not form.save_m2m(): groups and desks were saved (and audited) by save_model.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        """Django's password page, but a valid POST sets the password through the audited
        service (Django's own view saves the form directly)."""
        user = self.get_object(request, unquote(id))
        if (
            request.method != "POST"
            or user is None
            or not self.has_change_permission(request, user)
        ):
            return super().user_change_password(request, id, form_url)  # page, 403 or 404
        form = self.change_password_form(user, request.POST)
        usable = form.is_valid() and form.cleaned_data["set_usable_password"]
        if not form.is_valid() or not (usable or "unset-password" in request.POST):
            return super().user_change_password(request, id, form_url)  # errors, as Django shows
        with transaction.atomic():
            user = services.user_password_set(
                actor=request.user,
                user=user,
                password=form.cleaned_data["password1"] if usable else None,
            )
            self.log_change(request, user, self.construct_change_message(request, form, None))
        if user.has_usable_password():
            self.message_user(request, gettext("Password changed successfully."), messages.SUCCESS)
        else:
            self.message_user(
                request, gettext("Password-based authentication was disabled."), messages.SUCCESS
            )
        update_session_auth_hash(request, user)
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:accounts_user_change", args=(user.pk,))
        )


def _grant_label(grant: str) -> str:
    if grant == privilege.GRANT_ADMINISTRATOR:
        return gettext("the administrator role")
    return gettext("superuser status")


# Role groups and their permissions are code (ROLE_PERMISSIONS) and migrations: the admin shows
# them and changes nothing, for superusers too.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    fields = ("name", "permissions")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# Authenticator-app devices: every save and deletion audited (never the key), and only a
# superuser touches an administrator's or a superuser's device.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(OTPTOTPDeviceAdmin):
    def _may_touch(self, request: HttpRequest, device: TOTPDevice | None) -> bool:
        if device is None or device.user_id is None:
            return True
        return privilege.may_change_account(request.user, User.objects.get(pk=device.user_id))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_touch(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_touch(request, obj)

    def save_model(self, request: HttpRequest, obj: TOTPDevice, form: ModelForm, change: bool):
        if not self._may_touch(request, obj):
            raise PermissionDenied  # a new device for a protected user
        services.mfa_device_save(actor=request.user, device=obj)

    def delete_model(self, request: HttpRequest, obj: TOTPDevice) -> None:
        services.mfa_device_delete(actor=request.user, device=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[TOTPDevice]) -> None:
        with transaction.atomic():  # the bulk action: all or none, each audited
            for device in queryset.select_related("user"):
                if not self._may_touch(request, device):
                    raise PermissionDenied
                services.mfa_device_delete(actor=request.user, device=device)


@admin.register(Desk)
class DeskAdmin(admin.ModelAdmin):
    form = DeskAdminForm
    list_display = ("code", "name", "region", "created_at")
    list_filter = ("region",)
    search_fields = ("code", "name")
    fields = ("code", "name", "region", "members")

    def save_model(self, request: HttpRequest, obj: Desk, form: ModelForm, change: bool) -> None:
        services.desk_save(actor=request.user, desk=obj, members=form.cleaned_data.get("members"))

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list, change: bool
    ) -> None:
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read-only view of tokens (the secret is never stored), with a revoke action."""

    list_display = ("name", "user", "prefix", "created_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    exclude = ("secret_hash", "idempotency_key")
    actions = ["revoke_tokens"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            services.api_token_revoke(actor=request.user, token=token)
        self.message_user(
            request,
            ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", len(tokens))
            % {"count": len(tokens)},
            messages.SUCCESS,
        )
