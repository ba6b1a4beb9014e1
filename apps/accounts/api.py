from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import services
from apps.accounts.models import ApiToken
from apps.accounts.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    MeSerializer,
)
from qenergyz.pagination import SafeCursorPagination


class MeView(APIView):
    """The caller's own profile: who they are, their roles, desks and region defaults."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)


class ApiTokenPagination(SafeCursorPagination):
    ordering = "-id"  # ids only grow: newest first, stable under inserts


class ApiTokenListCreateView(ListAPIView):
    """The caller's own API tokens. Managed with a signed-in session only: a token cannot mint
    or list tokens, so a leaked token cannot outlive its own revocation."""

    authentication_classes = [SessionAuthentication]
    serializer_class = ApiTokenSerializer
    pagination_class = ApiTokenPagination
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[ApiToken]:
        return services.api_tokens_for_user(self.request.user)

    @extend_schema(
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer, 200: ApiTokenCreatedSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    def post(self, request: Request) -> Response:
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = services.api_token_create(
                user=request.user,
                name=serializer.validated_data["name"],
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        data = ApiTokenCreatedSerializer(result.token).data | {"token": result.plaintext}
        return Response(
            data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )


class ApiTokenRevokeView(APIView):
    authentication_classes = [SessionAuthentication]

    @extend_schema(request=None, responses=ApiTokenSerializer)
    def post(self, request: Request, token_id: int) -> Response:
        token = services.api_token_get_for_user(request.user, token_id)
        token = services.api_token_revoke(actor=request.user, token=token)
        return Response(ApiTokenSerializer(token).data)
