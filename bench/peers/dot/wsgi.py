"""WSGI entry point of the django-oauth-toolkit peer (gunicorn bench.peers.dot.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.dot.settings")
application = get_wsgi_application()
