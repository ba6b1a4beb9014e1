"""A query string with control or bidi-override characters is a 400, before any view.

Views and filters put query parameters into queries (`?book=`, `?desk=`, django-filter's
fields), and PostgreSQL refuses a NUL in a string parameter with an error the view never
sees coming: a 500. No parameter of ours needs a control character, so the request is
refused whole here, by the same check as every form and serializer
(qenergyz.validators.text_is_plain): JSON under /api/, the portal's 400 page elsewhere.

A leaf module: it imports nothing from the apps.
"""

from collections.abc import Callable

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext

from qenergyz.validators import text_is_plain


def query_is_plain(request: HttpRequest) -> bool:
    return all(
        text_is_plain(key) and all(text_is_plain(value) for value in values)
        for key, values in request.GET.lists()
    )


class PlainQueryMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if query_is_plain(request):
            return self.get_response(request)
        message = gettext(
            "The address holds control or text-direction characters (such as NUL or escape); "
            "they are not accepted."
        )
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=400)
        raise BadRequest(message)  # the portal's 400 page (handler400)
