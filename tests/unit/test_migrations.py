"""Every model change has its migration (a new audit action, a new field): a deployment's
`migrate` is the whole schema, never part of it."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db  # makemigrations reads the applied history for its consistency check
def test_the_models_and_the_migrations_agree():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue(), out.getvalue()
