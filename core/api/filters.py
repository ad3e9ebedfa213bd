"""Filters every admin API list shares."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


class UTCDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, in UTC: any offset Python reads (up to ±23:59) is converted here,
    so the database never sees one it refuses (PostgreSQL's end at ±15:59)."""

    def clean(self, value: Any) -> dt.datetime | None:
        parsed = super().clean(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError("Out of range.", code="invalid") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField
