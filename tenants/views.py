"""Platform-level pages: readable CSRF failure and error pages."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Explain a CSRF failure to a person instead of Django's debug page."""
    return render(
        request,
        "error.html",
        {
            "title": "This form has expired",
            "message": "Please go back, reload the page and try again. "
            "Cookies must be enabled for this site.",
        },
        status=403,
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "error.html", {"title": "Page not found",
                                          "message": "There is nothing at this address."}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "error.html", {"title": "Something went wrong",
                                          "message": "Please try again in a moment."}, status=500)
