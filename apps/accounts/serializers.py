from rest_framework import serializers

from apps.accounts.models import Desk, User
from apps.accounts.permissions import user_roles


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
