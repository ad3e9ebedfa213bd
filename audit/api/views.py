"""The admin API's audit trail: events filtered and cursor-paginated, and the verifiable export."""

from __future__ import annotations

import tempfile
from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request

from audit.api.serializers import AuditEventFilter, AuditEventSerializer, ExportQuerySerializer
from audit.export import export_lines, export_recorded
from audit.models import AuditEvent
from tenants.api.views import TenantAdminViewSet


class NewestFirst(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-seq"


class JSONLinesRenderer(JSONRenderer):
    """The export's media type, for content negotiation: the view writes the lines itself, and
    an error (a problem document) renders as JSON."""

    media_type = "application/jsonl"
    format = "jsonl"


@extend_schema_view(
    list=extend_schema(summary="List audit events, newest first, filtered"),
    retrieve=extend_schema(summary="Read one audit event by its position in the chain"),
)
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantAdminViewSet):
    """The tenant's audit trail (read-only: events are never changed or deleted through the API)."""

    model = AuditEvent
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    pagination_class = NewestFirst
    lookup_field = "seq"
    lookup_value_regex = "[0-9]+"

    @extend_schema(
        summary="Export the trail as JSON lines with its signed checkpoints (verify offline with "
                "`manage.py verify_audit --export FILE --jwks {issuer}/jwks.json`)",
        parameters=[ExportQuerySerializer], filters=False,
        responses={(200, "application/jsonl"): OpenApiResponse(
            response=OpenApiTypes.STR,
            description="A keys line, every event, then every checkpoint; the last checkpoint is signed now.")},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[],
            renderer_classes=[JSONRenderer, JSONLinesRenderer, BrowsableAPIRenderer])
    def export(self, request: Request, **kwargs: Any) -> FileResponse:
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        since = query.validated_data["since_seq"]
        # Written out inside the request's transaction and tenant (a streamed body would be
        # iterated after both ended): in memory up to 8 MiB, then a temporary file.
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - FileResponse closes it
        count = -1
        for count, line in enumerate(export_lines(since_seq=since)):  # noqa: B007
            spool.write(line.encode() + b"\n")
        export_recorded(actor=self.actor, since_seq=since, lines=count + 1)
        spool.seek(0)
        response = FileResponse(spool, content_type="application/jsonl", as_attachment=True,
                                filename=f"audit-{request.tenant.slug}.jsonl")
        response["Cache-Control"] = "no-store"
        return response
