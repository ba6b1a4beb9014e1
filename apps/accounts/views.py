from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No context processors: the database or a template may be what failed.
    from django.template import loader

    return HttpResponse(loader.get_template("errors/500.html").render(), status=500)


# The pages below are completed by the accounts work (MFA enrolment, verification, tokens).
def login_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.views import LoginView

    return LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True)(
        request
    )


def logout_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth.views import LogoutView

    return LogoutView.as_view()(request)


@login_required
def mfa_setup(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@login_required
def mfa_verify(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")
