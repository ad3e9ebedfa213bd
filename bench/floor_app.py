"""The machine reference of the performance issue: a Django JSON view with no middleware.

Served by gunicorn exactly like Tessera (bench/run.py), so its rate measures this machine's
speed; the issue's targets were set on a machine where it reached 2650 requests/s.
"""

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import JsonResponse
from django.urls import path

settings.configure(
    DEBUG=False, SECRET_KEY="bench-floor-only", ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__, MIDDLEWARE=[], INSTALLED_APPS=[], DATABASES={},
)


def ok(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("", ok)]
application = get_wsgi_application()
