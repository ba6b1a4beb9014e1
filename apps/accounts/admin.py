from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.accounts import services
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

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        # The user row, its roles and its desks are written together by the one service.
        services.user_save(
            actor=request.user,
            user=obj,
            groups=form.cleaned_data.get("groups"),
            desks=form.cleaned_data.get("desks"),
        )

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list, change: bool
    ) -> None:
        # Not form.save_m2m(): groups and desks were saved (and audited) by save_model.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


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
