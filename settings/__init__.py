"""Tessera's Django project package: settings overlays, URLs, WSGI/ASGI and Celery wiring."""

# The Celery app, so that @shared_task binds to it in every process (Celery's Django recipe).
from settings.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
