"""Celery application. Tasks live in each app's tasks.py; schedules are declared here, in one place."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.production")
app = Celery("tessera")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Beat schedules (key rotation, token cleanup, audit retention) arrive with their jobs.
app.conf.beat_schedule = {}
