from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.serializers import MeSerializer


class MeView(APIView):
    """The caller's own profile: who they are, their roles, desks and region defaults."""

    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)
