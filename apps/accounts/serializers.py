from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.accounts.models import ApiToken, Desk, User
from apps.accounts.permissions import user_roles
from qenergyz.validators import PlainCharField


class DeskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Desk
        fields = ["code", "name", "region"]


class MeSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()
    desks = DeskSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = [
            "username",
            "first_name",
            "last_name",
            "email",
            "region",
            "language",
            "roles",
            "desks",
        ]

    def get_roles(self, user: User) -> list[str]:
        return sorted(user_roles(user))


class ApiTokenSerializer(serializers.ModelSerializer):
    is_active = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "is_active",
        ]
        read_only_fields = fields

    def get_is_active(self, token: ApiToken) -> bool:
        return token.is_active()


class ApiTokenCreateSerializer(serializers.Serializer):
    name = PlainCharField(max_length=100, allow_blank=False, trim_whitespace=True)


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    """The answer to a creation: the token once, in the form the Authorization header wants."""

    token = serializers.CharField(
        allow_null=True,
        help_text=_(
            "Send as 'Authorization: Token <token>'. Shown only in the response that created "
            "the token; null when an Idempotency-Key replay returns an earlier token."
        ),
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields
