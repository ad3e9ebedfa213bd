"""Tessera's Django project package: settings overlays, URLs, WSGI/ASGI and Celery wiring."""
