"""Audit events as the admin API shows them (the stored, sanitised fields: never a secret)."""

from __future__ import annotations

import django_filters
from rest_framework import serializers

from audit.models import Action, AuditEvent, Outcome
from core.actors import ActorType
from core.api.filters import UTCDateTimeFilter


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["seq", "occurred", "action", "outcome", "actor_type", "actor_id", "actor", "subject",
                  "target_type", "target_id", "ip", "user_agent", "request_id", "risk_score", "risk_reasons",
                  "details", "prev_hash", "hash"]
        read_only_fields = fields


class AuditEventFilter(django_filters.FilterSet):
    """Declared filters (see idp.api.serializers on why never generated ones)."""

    action = django_filters.MultipleChoiceFilter(choices=Action.choices, help_text="Repeat for several.")
    action_prefix = django_filters.CharFilter(field_name="action", lookup_expr="startswith",
                                              help_text='All actions starting so, e.g. "token." or "auth.login".')
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices)
    actor_type = django_filters.ChoiceFilter(choices=ActorType.choices)
    actor_id = django_filters.CharFilter(help_text="A user's uid, a client's client_id or a job's name.")
    subject = django_filters.CharFilter(help_text="The (lower-cased) username an authentication event is about.")
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()
    occurred_after = UTCDateTimeFilter(field_name="occurred", lookup_expr="gte")
    occurred_before = UTCDateTimeFilter(field_name="occurred", lookup_expr="lt")
    seq_after = django_filters.NumberFilter(field_name="seq", lookup_expr="gt", min_value=0)


class ExportQuerySerializer(serializers.Serializer):
    since_seq = serializers.IntegerField(min_value=0, default=0, help_text="Only events after this position.")
